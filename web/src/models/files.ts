// Model folders from the page: the files of an <input type="file" webkitdirectory> or of a drop (a folder, or the
// files of one selected together), by name, for blobFiles. Only the folder's own files count, not its subfolders'.

/** The name → File record of a picked folder, and the folder's name; null when the files hold no config.json. */
export function pickedFolder(list: FileList | readonly File[]): { name: string; files: Record<string, File> } | null {
  const files: Record<string, File> = {};
  let name = 'the chosen files';
  for (const file of Array.from(list)) {
    const parts = (file.webkitRelativePath || file.name).split('/');
    if (parts.length > 2) continue; // a subfolder's file
    if (parts.length === 2) name = parts[0];
    files[parts[parts.length - 1]] = file;
  }
  return 'config.json' in files ? { name, files } : null;
}

/**
 * What a drop holds, read synchronously in the drop handler (the entries vanish after it returns): a folder (read
 * later, by the returned promise), several files with a config.json among them, or null for anything else.
 */
export function droppedFolder(data: DataTransfer): Promise<{ name: string; files: Record<string, File> } | null> | null {
  const entries = Array.from(data.items, (item) => item.webkitGetAsEntry?.() ?? null);
  const dir = entries.find((e): e is FileSystemDirectoryEntry => e !== null && e.isDirectory);
  if (dir) return readFolder(dir);
  if (data.files.length > 1) {
    const picked = pickedFolder(data.files);
    return picked ? Promise.resolve(picked) : null;
  }
  return null;
}

async function readFolder(dir: FileSystemDirectoryEntry): Promise<{ name: string; files: Record<string, File> } | null> {
  const reader = dir.createReader();
  const entries: FileSystemEntry[] = [];
  // readEntries returns the entries in batches, then an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((done, fail) => reader.readEntries(done, fail));
    if (batch.length === 0) break;
    entries.push(...batch);
  }
  const files: Record<string, File> = {};
  for (const entry of entries) {
    if (!entry.isFile) continue;
    files[entry.name] = await new Promise<File>((done, fail) => (entry as FileSystemFileEntry).file(done, fail));
  }
  return { name: dir.name, files };
}

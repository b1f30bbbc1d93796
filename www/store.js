// Finished runs survive reloads in IndexedDB (values are structured clones: curves, metrics, adapter bytes).
const DB = "peft-lab";
const RUNS = "runs";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(RUNS);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function finish(transaction, result) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve(result());
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

export async function storePut(key, value) {
  const db = await open();
  const tx = db.transaction(RUNS, "readwrite");
  tx.objectStore(RUNS).put(value, key);
  return finish(tx, () => undefined);
}

export async function storeAll() {
  const db = await open();
  const tx = db.transaction(RUNS, "readonly");
  const request = tx.objectStore(RUNS).getAll();
  return finish(tx, () => request.result);
}

export async function storeClear() {
  const db = await open();
  const tx = db.transaction(RUNS, "readwrite");
  tx.objectStore(RUNS).clear();
  return finish(tx, () => undefined);
}

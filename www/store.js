// What survives a reload, in IndexedDB (values are structured clones: curves, metrics, adapter bytes):
//   runs         finished runs, keyed by comparison, method and seed;
//   pending      the comparisons in progress (their plans and data; one per tab running one), keyed by comparison,
//                so that a reload resumes them;
//   checkpoints  its runs' checkpoints, keyed "comparison/run label", as the bytes the engine writes.
// Used by the page and by the workers (IndexedDB is there too).
const DB = "peft-lab";
const RUNS = "runs";
const PENDING = "pending";
const CHECKPOINTS = "checkpoints";

// Test-only switch, for the page's own storage: `?test-storage=off` makes it unavailable (as in a private window
// without storage), `?test-storage=full` makes every write fail as a full disk does.
const testStorage = typeof window === "undefined" ? null : new URLSearchParams(location.search).get("test-storage");

function open() {
  if (testStorage === "off") return Promise.reject(new Error("test: this window has no storage"));
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 2);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const name of [RUNS, PENDING, CHECKPOINTS]) {
        if (!db.objectStoreNames.contains(name)) db.createObjectStore(name);
      }
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("another tab holds an older version of this page's storage open"));
  });
}

function finish(db, transaction, result) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => {
      db.close();
      resolve(result());
    };
    const failed = (error) => {
      db.close();
      reject(error);
    };
    transaction.onerror = () => failed(transaction.error);
    transaction.onabort = () => failed(transaction.error ?? new Error("the storage transaction was aborted"));
  });
}

async function write(name, change) {
  if (testStorage === "full") throw new DOMException("test: the disk is full", "QuotaExceededError");
  const db = await open();
  const tx = db.transaction(name, "readwrite");
  change(tx.objectStore(name));
  return finish(db, tx, () => undefined);
}

async function read(name, query) {
  const db = await open();
  const tx = db.transaction(name, "readonly");
  const request = query(tx.objectStore(name));
  return finish(db, tx, () => request.result);
}

/// Keys from `prefix` to `prefix` followed by anything.
function prefixed(prefix) {
  return IDBKeyRange.bound(prefix, prefix + "\uffff");
}

export const storePut = (key, value) => write(RUNS, (s) => s.put(value, key));
export const storeAll = () => read(RUNS, (s) => s.getAll());
export const storeClear = () => write(RUNS, (s) => s.clear());

export const pendingPut = (id, value) => write(PENDING, (s) => s.put(value, id));
export const pendingAll = () => read(PENDING, (s) => s.getAll());
export const pendingDelete = (id) => write(PENDING, (s) => s.delete(id));

export const checkpointPut = (key, bytes) => write(CHECKPOINTS, (s) => s.put(bytes, key));
export const checkpointsClear = (prefix) => write(CHECKPOINTS, (s) => s.delete(prefixed(prefix)));

export const checkpointGet = (key) => read(CHECKPOINTS, (s) => s.get(key));

// Other tabs of the page hear when runs are stored or cleared here, and read them again.
const channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("peft-lab-runs");

export function announceRunsChanged() {
  channel?.postMessage("runs-changed");
}

export function onRunsChangedElsewhere(callback) {
  if (channel) channel.onmessage = () => callback();
}

// The tab running a comparison holds a lock named after it until the comparison ends or the tab goes (a reload or a
// closed tab releases it), so that another tab does not resume a comparison that is still running.
const lockName = (id) => `peft-lab-comparison-${id}`;
let held = null;

/// Holds the comparison's lock (waiting for it, or with `ifFree` giving up at once when another tab holds it);
/// resolves to whether this tab holds it.
export async function holdComparison(id, ifFree) {
  if (!navigator.locks) return true;
  if (held?.id === id) return true;
  releaseComparison();
  return new Promise((granted) => {
    navigator.locks
      .request(lockName(id), { ifAvailable: ifFree }, (lock) => {
        if (!lock) return granted(false);
        return new Promise((release) => {
          held = { id, release };
          granted(true);
        });
      })
      .catch(() => granted(false));
  });
}

export function releaseComparison() {
  held?.release();
  held = null;
}

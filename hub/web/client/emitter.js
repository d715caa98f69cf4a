// A tiny event emitter: on() returns its unsubscribe function; a listener that throws is
// reported (console.error) and never breaks the connection's frame loop.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this._listeners = new Map();
  }

  /**
   * @param {string} name
   * @param {(payload: any) => void} fn
   * @returns {() => void} unsubscribe
   */
  on(name, fn) {
    let set = this._listeners.get(name);
    if (!set) this._listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => this.off(name, fn);
  }

  /**
   * @param {string} name
   * @param {(payload: any) => void} fn
   */
  off(name, fn) {
    this._listeners.get(name)?.delete(fn);
  }

  /**
   * @param {string} name
   * @param {unknown} payload
   */
  emit(name, payload) {
    for (const fn of [...(this._listeners.get(name) || [])]) {
      try {
        fn(payload);
      } catch (err) {
        console.error(`@livehub/client: a "${name}" listener threw`, err);
      }
    }
  }
}

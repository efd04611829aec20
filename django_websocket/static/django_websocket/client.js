/*
 * django_websocket's browser client: a WebSocket that reconnects.
 *
 * Plain JavaScript, no dependencies, no build step. As a classic script,
 *     <script src="{% static 'django_websocket/client.js' %}"></script>
 * it defines the global DjangoWebSocket; as an ES module,
 *     import { DjangoWebSocket } from "/static/django_websocket/client.esm.js";
 *
 * DjangoWebSocket has the browser WebSocket's interface (send, close, readyState,
 * binaryType, protocol, the open/message/close/error events and on... properties), and:
 *   - after an unexpected close it reconnects, with exponential backoff and full jitter
 *     (each wait is random, up to minDelay * 2 ** (attempt - 1), at most maxDelay), and
 *     at once when the browser comes back online or the tab becomes visible again after
 *     being hidden for wakeAfter ms;
 *   - it stops for good after close() and on close code 1008 or one of stopCodes
 *     (by default 4000-4999), and only then fires "close";
 *   - it fires "reconnecting" (attempt, delay, code, reason, wasClean) before each wait
 *     and "reconnected" (attempt) with each "open" after the first;
 *   - send() while not connected queues the message (at most maxQueue, oldest dropped
 *     first with a "dropped" event); the queue goes out in order once connected, after
 *     what the "open" listeners send.
 * docs/howto.md, "Reconnect in the browser", tells the whole story.
 */
(function (root) {
  "use strict";

  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSING = 2;
  const CLOSED = 3;

  const DEFAULTS = Object.freeze({
    minDelay: 1000, // ms: the first retry comes within this
    maxDelay: 30000, // ms: no wait is longer
    maxQueue: 100, // messages kept while disconnected
    stopCodes: Object.freeze([Object.freeze([4000, 4999])]), // codes and [low, high] ranges
    wakeAfter: 10000, // ms hidden after which becoming visible retries at once
  });
  const POLICY_VIOLATION = 1008; // always final
  // The attempt count starts again only once a connection has stayed open this long,
  // so a server that accepts and drops at once is backed off like one that refuses.
  const STABLE_AFTER = 5000;
  const MAX_REASON_BYTES = 123;

  function checkOptions(given) {
    const options = { ...DEFAULTS };
    for (const [name, value] of Object.entries(given || {})) {
      if (!(name in DEFAULTS)) throw new TypeError(`DjangoWebSocket: unknown option "${name}"`);
      if (name === "stopCodes") {
        if (!Array.isArray(value)) throw new TypeError("DjangoWebSocket: stopCodes must be an array");
      } else if (typeof value !== "number" || !(value >= 0)) {
        throw new TypeError(`DjangoWebSocket: ${name} must be a number >= 0`);
      }
      options[name] = value;
    }
    options.maxDelay = Math.max(options.maxDelay, options.minDelay);
    return options;
  }

  function isStopCode(code, stopCodes) {
    return code === POLICY_VIOLATION || stopCodes.some((item) =>
      Array.isArray(item) ? item[0] <= code && code <= item[1] : item === code);
  }

  // Relative and http(s) URLs become ws(s) URLs against the page's address.
  function absoluteUrl(url) {
    if (typeof location === "undefined") return String(url);
    const absolute = new URL(url, location.href);
    if (absolute.protocol === "http:") absolute.protocol = "ws:";
    else if (absolute.protocol === "https:") absolute.protocol = "wss:";
    return absolute.href;
  }

  function checkClose(code, reason) {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new DOMException(`close code ${code} is neither 1000 nor in 3000-4999`,
        "InvalidAccessError");
    }
    if (reason !== undefined && new TextEncoder().encode(reason).length > MAX_REASON_BYTES) {
      throw new DOMException("close reason longer than 123 bytes", "SyntaxError");
    }
  }

  function event(type, fields) {
    return Object.assign(new Event(type), fields);
  }

  class DjangoWebSocket extends EventTarget {
    #url;
    #protocols;
    #options;
    #socket = null; // the current browser WebSocket, or null while waiting to retry
    #readyState = CONNECTING;
    #binaryType = "blob";
    #protocol = ""; // of the last connection that opened
    #extensions = "";
    #queue = [];
    #attempt = 0; // retries since the last stable connection
    #opened = false; // some connection has opened
    #openedAt = 0;
    #timer = null; // the pending retry
    #hiddenAt = null;
    #handlers = new Map();

    /**
     * Connect to url (ws:, wss:, http:, https: or relative to the page).
     *
     * new DjangoWebSocket(url, protocols?, options?) or new DjangoWebSocket(url, options).
     * options: minDelay, maxDelay, maxQueue, stopCodes, wakeAfter (see DEFAULTS).
     */
    constructor(url, protocols, options) {
      super();
      if (options === undefined && protocols !== null && typeof protocols === "object"
          && !Array.isArray(protocols)) {
        options = protocols;
        protocols = undefined;
      }
      this.#url = absoluteUrl(url);
      this.#protocols = protocols;
      this.#options = checkOptions(options);
      this.#connect(); // throws SyntaxError for a bad URL, as WebSocket does
      if (typeof addEventListener === "function") addEventListener("online", this.#onOnline);
      if (typeof document !== "undefined") {
        document.addEventListener("visibilitychange", this.#onVisibilityChange);
      }
    }

    get url() { return this.#url; }
    get readyState() { return this.#readyState; }
    get protocol() { return this.#protocol; }
    get extensions() { return this.#extensions; }
    get bufferedAmount() { return this.#socket?.bufferedAmount ?? 0; }
    get binaryType() { return this.#binaryType; }
    set binaryType(value) {
      if (value !== "blob" && value !== "arraybuffer") return; // ignored, as WebSocket does
      this.#binaryType = value;
      if (this.#socket) this.#socket.binaryType = value;
    }

    get onopen() { return this.#handler("open"); }
    set onopen(listener) { this.#setHandler("open", listener); }
    get onmessage() { return this.#handler("message"); }
    set onmessage(listener) { this.#setHandler("message", listener); }
    get onclose() { return this.#handler("close"); }
    set onclose(listener) { this.#setHandler("close", listener); }
    get onerror() { return this.#handler("error"); }
    set onerror(listener) { this.#setHandler("error", listener); }
    get onreconnecting() { return this.#handler("reconnecting"); }
    set onreconnecting(listener) { this.#setHandler("reconnecting", listener); }
    get onreconnected() { return this.#handler("reconnected"); }
    set onreconnected(listener) { this.#setHandler("reconnected", listener); }
    get ondropped() { return this.#handler("dropped"); }
    set ondropped(listener) { this.#setHandler("dropped", listener); }

    /** Send now when connected, else queue; after close(), drop (with a "dropped" event). */
    send(data) {
      if (this.#readyState === CLOSING || this.#readyState === CLOSED) {
        this.dispatchEvent(event("dropped", { data, reason: "closed" }));
      } else if (this.#live()) {
        this.#socket.send(data);
      } else {
        this.#queue.push(data);
        while (this.#queue.length > this.#options.maxQueue) {
          this.dispatchEvent(event("dropped", { data: this.#queue.shift(), reason: "queue full" }));
        }
      }
    }

    /** Close for good: no more reconnecting; "close" follows. */
    close(code, reason) {
      checkClose(code, reason);
      if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
      this.#stopWatching();
      const socket = this.#socket;
      this.#readyState = CLOSING;
      if (socket && socket.readyState <= OPEN) {
        socket.close(code, reason); // its close event ends this socket too
      } else if (socket && socket.readyState === CLOSING) {
        // the server's close is under way: its close event ends this socket too
      } else { // waiting to retry: nothing to close but ourselves
        const closed = { code: code ?? 1005, reason: reason ?? "", wasClean: true };
        setTimeout(() => this.#finish(closed), 0);
      }
    }

    #live() {
      return this.#socket && this.#socket.readyState === OPEN && this.#readyState === OPEN
        ? this.#socket : null;
    }

    #connect() {
      this.#timer = null;
      const socket = new WebSocket(this.#url, this.#protocols);
      socket.binaryType = this.#binaryType;
      socket.onopen = () => this.#socket === socket && this.#onOpen(socket);
      socket.onmessage = (message) => this.#socket === socket && this.dispatchEvent(
        new MessageEvent("message", { data: message.data, origin: message.origin }));
      socket.onerror = () => this.#socket === socket && this.dispatchEvent(new Event("error"));
      socket.onclose = (closed) => this.#socket === socket && this.#onClose(closed);
      this.#socket = socket;
    }

    #onOpen(socket) {
      const reconnection = this.#opened;
      this.#opened = true;
      this.#openedAt = Date.now();
      this.#protocol = socket.protocol;
      this.#extensions = socket.extensions;
      this.#readyState = OPEN;
      this.dispatchEvent(new Event("open"));
      if (reconnection && this.#readyState === OPEN) {
        this.dispatchEvent(event("reconnected", { attempt: this.#attempt }));
      }
      while (this.#queue.length && this.#live() === socket) socket.send(this.#queue.shift());
    }

    #onClose(closed) {
      const { code, reason, wasClean } = closed;
      if (this.#readyState === CLOSING || isStopCode(code, this.#options.stopCodes)) {
        this.#finish({ code, reason, wasClean });
        return;
      }
      if (this.#readyState === OPEN && Date.now() - this.#openedAt >= STABLE_AFTER) {
        this.#attempt = 0;
      }
      this.#readyState = CONNECTING;
      this.#socket = null;
      this.#attempt += 1;
      const { minDelay, maxDelay } = this.#options;
      const delay = Math.random() * Math.min(maxDelay, minDelay * 2 ** (this.#attempt - 1));
      this.#timer = setTimeout(() => this.#connect(), delay);
      this.dispatchEvent(event("reconnecting", { attempt: this.#attempt, delay, code, reason, wasClean }));
    }

    // Closed for good: what is still queued will never go out.
    #finish(closed) {
      if (this.#readyState === CLOSED) return; // once: "close" fires a single time
      this.#stopWatching();
      this.#socket = null;
      this.#readyState = CLOSED;
      for (const data of this.#queue.splice(0)) {
        this.dispatchEvent(event("dropped", { data, reason: "closed" }));
      }
      this.dispatchEvent(new CloseEvent("close", closed));
    }

    #retryNow() {
      if (this.#timer === null) return;
      clearTimeout(this.#timer);
      this.#connect();
    }

    #onOnline = () => this.#retryNow();

    #onVisibilityChange = () => {
      if (document.visibilityState === "hidden") {
        this.#hiddenAt = Date.now();
      } else if (this.#hiddenAt !== null) {
        const slept = Date.now() - this.#hiddenAt;
        this.#hiddenAt = null;
        if (slept >= this.#options.wakeAfter) this.#retryNow();
      }
    };

    #stopWatching() {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      if (typeof removeEventListener === "function") removeEventListener("online", this.#onOnline);
      if (typeof document !== "undefined") {
        document.removeEventListener("visibilitychange", this.#onVisibilityChange);
      }
    }

    #handler(type) {
      return this.#handlers.get(type)?.listener ?? null;
    }

    // An on... property is one listener, added where it was first set, as in the DOM.
    #setHandler(type, listener) {
      let entry = this.#handlers.get(type);
      if (!entry) {
        entry = { listener: null };
        this.#handlers.set(type, entry);
        this.addEventListener(type, (e) => entry.listener && entry.listener.call(this, e));
      }
      entry.listener = typeof listener === "function" ? listener : null;
    }
  }

  for (const [name, value] of Object.entries({ CONNECTING, OPEN, CLOSING, CLOSED })) {
    Object.defineProperty(DjangoWebSocket, name, { value, enumerable: true });
    Object.defineProperty(DjangoWebSocket.prototype, name, { value, enumerable: true });
  }

  root.DjangoWebSocket = DjangoWebSocket;
})(globalThis);

// Shared by the *.test.mjs files: the server under test (from the
// environment), the pusher server SDK that signs everything, pusher-js
// clients authorized through that SDK, a raw WebSocket client for frames
// pusher-js would never send, and waits that fail with a reason instead of
// hanging.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import Pusher from "pusher-js";
import PusherServer from "pusher";
import WebSocket from "ws";

function required(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: these tests need a running server (see README.md in this directory)`,
    );
  }
  return v;
}

// The server under test and the limits it was started with.
export const env = {
  host: process.env.PUSHER_HOST || "127.0.0.1",
  port: Number(required("PUSHER_PORT")),
  appId: required("PUSHER_APP_ID"),
  key: required("PUSHER_APP_KEY"),
  secret: required("PUSHER_APP_SECRET"),
  maxEventBytes: Number(process.env.PUSHER_MAX_EVENT_BYTES || 10240),
  activityTimeout: Number(process.env.PUSHER_ACTIVITY_TIMEOUT || 120),
  maxPresenceMembers: Number(process.env.PUSHER_MAX_PRESENCE_MEMBERS || 0),
};

if (process.env.PUSHER_DEBUG) Pusher.logToConsole = true;

// The end-to-end encryption master key lives only in the backend (the SDK);
// the server never sees it.
export const encryptionMasterKeyBase64 = randomBytes(32).toString("base64");

// The backend: signs channel authorizations and user sign-ins, and calls
// the HTTP API.
export const sdk = new PusherServer({
  appId: env.appId,
  key: env.key,
  secret: env.secret,
  host: env.host,
  port: env.port,
  useTLS: false,
  timeout: 5000,
  encryptionMasterKeyBase64,
});

// A backend that signs with the wrong secret.
export function sdkWithSecret(secret) {
  return new PusherServer({
    appId: env.appId,
    key: env.key,
    secret,
    host: env.host,
    port: env.port,
    useTLS: false,
    timeout: 5000,
  });
}

// uniq names a channel (or user) no other test or run shares.
export function uniq(prefix) {
  return `${prefix}${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;
}

// The options a browser app gives pusher-js to reach a self-hosted server.
export function clientOptions(extra = {}) {
  return {
    wsHost: env.host,
    wsPort: env.port,
    forceTLS: false,
    enabledTransports: ["ws"],
    cluster: "mt1",
    disableStats: true,
    ...extra,
  };
}

// client opens a pusher-js connection that authorizes channels and signs in
// through the pusher SDK, as an app's auth endpoints would. user is
// {id, info}: the presence member and the signed-in user. authorize, when
// given, replaces the SDK for some channels (return undefined to fall back).
// The connection is closed when the test ends.
export function client(t, { user, key = env.key, authorize, options = {} } = {}) {
  const p = new Pusher(
    key,
    clientOptions({
      channelAuthorization: {
        customHandler: ({ socketId, channelName }, callback) => {
          try {
            const forged = authorize?.(socketId, channelName);
            if (forged !== undefined) return callback(null, forged);
            const presence = channelName.startsWith("presence-")
              ? { user_id: user.id, user_info: user.info }
              : undefined;
            callback(null, sdk.authorizeChannel(socketId, channelName, presence));
          } catch (e) {
            callback(e, null);
          }
        },
      },
      userAuthentication: {
        customHandler: ({ socketId }, callback) => {
          try {
            callback(null, sdk.authenticateUser(socketId, { id: user.id, user_info: user.info }));
          } catch (e) {
            callback(e, null);
          }
        },
      },
      ...options,
    }),
  );
  t.after(() => p.disconnect());
  return p;
}

// next resolves with the arguments of the next event on a pusher-js
// dispatcher (a connection, channel, user or the client itself) that
// passes filter, or rejects after ms.
export function next(target, event, { ms = 5000, filter = () => true, what = event } = {}) {
  return handled(new Promise((resolve, reject) => {
    const cb = (...args) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      target.unbind(event, cb);
      resolve(args);
    };
    const timer = setTimeout(() => {
      target.unbind(event, cb);
      reject(new Error(`timed out after ${ms}ms waiting for ${what}`));
    }, ms);
    target.bind(event, cb);
  }));
}

// handled marks a promise as handled, so that one a test never gets to
// await (it failed earlier) does not also surface as an unhandled
// rejection; awaiting it still throws.
export function handled(promise) {
  promise.catch(() => {});
  return promise;
}

// record collects every (data, metadata) of an event on a dispatcher.
export function record(target, event) {
  const got = [];
  target.bind(event, (data, metadata) => got.push({ data, metadata }));
  return got;
}

// connected waits until a pusher-js client is connected.
export async function connected(p, ms = 5000) {
  if (p.connection.state === "connected") return p.connection.socket_id;
  const errors = record(p.connection, "error");
  try {
    await next(p.connection, "connected", { ms, what: "state connected" });
  } catch (e) {
    e.message += `; state ${p.connection.state}, errors ${JSON.stringify(errors)}`;
    throw e;
  }
  return p.connection.socket_id;
}

// subscribe subscribes and waits for pusher:subscription_succeeded,
// failing with the subscription_error if one comes instead.
export async function subscribe(p, name, ms = 5000) {
  await connected(p);
  const ch = p.subscribe(name);
  if (ch.subscribed) return ch;
  await new Promise((resolve, reject) => {
    const done = (err) => {
      clearTimeout(timer);
      ch.unbind("pusher:subscription_succeeded", ok);
      ch.unbind("pusher:subscription_error", failed);
      err ? reject(err) : resolve();
    };
    const ok = () => done();
    const failed = (data) => done(new Error(`subscription to ${name} failed: ${JSON.stringify(data)}`));
    const timer = setTimeout(() => done(new Error(`timed out after ${ms}ms subscribing to ${name}`)), ms);
    ch.bind("pusher:subscription_succeeded", ok);
    ch.bind("pusher:subscription_error", failed);
  });
  return ch;
}

// barrier triggers a marker event on a channel through the HTTP API and
// waits until every given pusher-js channel object has received it. Order
// is per channel, so anything published to the channel before the marker
// has been delivered by then: whatever a channel has not received yet, it
// never will.
export async function barrier(name, channels, ms = 5000) {
  const token = randomBytes(6).toString("hex");
  const waits = channels.map((ch) =>
    next(ch, "test-barrier", { ms, filter: (d) => d?.token === token, what: `barrier on ${name}` }),
  );
  const all = handled(Promise.all(waits));
  await sdk.trigger(name, "test-barrier", { token });
  await all;
}

// pusherError waits for a pusher:error on a pusher-js connection.
export async function pusherError(p, ms = 5000) {
  const [err] = await next(p.connection, "error", {
    ms,
    filter: (e) => e?.type === "PusherError",
    what: "a pusher:error",
  });
  return err.data;
}

// closeCode waits for the connection to be closed by the server with a
// Pusher close code, as pusher-js reports it.
export async function closedWith(p, ms = 5000) {
  const [err] = await next(p.connection, "error", {
    ms,
    filter: (e) => typeof errorCode(e) === "number" && errorCode(e) >= 4000,
    what: "a close with a Pusher code",
  });
  return errorCode(err);
}

// errorCode digs the Pusher code out of the error shapes pusher-js emits:
// {type:'PusherError', data:{code}} after a close or a pusher:error, and
// {type:'WebSocketError', error:{type:'PusherError', data:{code}}} during
// the handshake.
export function errorCode(e) {
  return e?.data?.code ?? e?.error?.data?.code;
}

export async function json(resPromise) {
  const res = await resPromise;
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    throw new Error(`HTTP ${res.status} body is not JSON: ${text}`);
  }
}

// httpStatus runs an SDK call and returns the HTTP status it ended with.
export async function httpStatus(call) {
  try {
    const res = await call();
    return res.status;
  } catch (e) {
    if (e.status) return e.status;
    throw e;
  }
}

export { sleep };

// Raw speaks the protocol frame by frame over the ws package.
export class Raw {
  static async open(t, { key = env.key, query = "protocol=7&client=raw&version=1.0", established = true } = {}) {
    const raw = new Raw(`ws://${env.host}:${env.port}/app/${key}?${query}`);
    t.after(() => raw.ws.terminate());
    await raw.opened;
    if (established) {
      const f = await raw.next((f) => f.event === "pusher:connection_established", 5000, "connection_established");
      raw.socketId = f.data.socket_id;
    }
    return raw;
  }

  constructor(url) {
    this.frames = [];
    this.waiters = [];
    this.closeCode = null;
    this.ws = new WebSocket(url);
    this.ws.on("error", (e) => (this.error = e));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
        this.wake();
      });
    });
    this.ws.on("message", (buf, isBinary) => {
      const text = buf.toString();
      let f;
      try {
        f = JSON.parse(text);
      } catch {
        f = { unparsable: text };
      }
      f.raw = text;
      f.binary = isBinary;
      f.rawData = f.data;
      if (typeof f.data === "string") {
        try {
          f.data = JSON.parse(f.data);
        } catch {}
      }
      this.frames.push(f);
      this.wake();
    });
  }

  wake() {
    for (const w of [...this.waiters]) w();
  }

  send(frame) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  // mark returns a position: next and none look only at frames after it.
  mark() {
    return this.frames.length;
  }

  // next resolves with the first frame after from that passes pred.
  next(pred, ms = 5000, what = "a frame", from = 0) {
    return handled(new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.slice(from).find(pred);
        if (f) {
          done();
          resolve(f);
        } else if (this.closeCode !== null) {
          done();
          reject(new Error(`connection closed (${this.closeCode} ${this.closeReason}) before ${what}; frames: ${this.dump(from)}`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms}ms waiting for ${what}; frames: ${this.dump(from)}`));
      }, ms);
      this.waiters.push(check);
      check();
    }));
  }

  // ping sends pusher:ping and waits for the pong: the server has handled
  // every frame sent before it.
  async roundTrip(ms = 5000) {
    const from = this.mark();
    this.send({ event: "pusher:ping", data: {} });
    await this.next((f) => f.event === "pusher:pong", ms, "pusher:pong", from);
  }

  async subscribe(channel, { auth, channel_data } = {}, ms = 5000) {
    const from = this.mark();
    const data = { channel };
    if (auth !== undefined) data.auth = auth;
    if (channel_data !== undefined) data.channel_data = channel_data;
    this.send({ event: "pusher:subscribe", data });
    return this.next(
      (f) => f.channel === channel && /subscription_(succeeded|error)$/.test(f.event),
      ms,
      `the answer to subscribing to ${channel}`,
      from,
    );
  }

  dump(from = 0) {
    return JSON.stringify(this.frames.slice(from).map((f) => f.raw));
  }
}

// rolling.mjs: many pusher-js clients on one presence and one public
// channel, and a publisher that triggers numbered events through the
// pusher SDK, for server/e2e's rolling restart and dead task tests (not a
// node:test file: `node --test` does not pick it up).
//
// The Go test drives it with one command a line on stdin:
//
//   start     the publisher begins: {seq} as event "tick" on the public
//             channel every ROLLING_INTERVAL_MS, one trigger at a time
//   stop      the publisher stops after the trigger in flight ("stopped")
//   snapshot  one "snapshot" line per client, then "snapshot_done"
//   exit      every client disconnects and the process ends (so does EOF)
//
// and reads what happens as JSON lines on stdout, each with t (Date.now()):
//
//   state       {client, prev, cur}          a pusher-js connection state change
//   closed      {client, code}               the server closed the socket (pusher-js's error with a code)
//   subscribed  {client, channel, socket,    pusher:subscription_succeeded; members and count
//                members, count}             (presence only) are pusher-js's channel.members then
//   sub_error   {client, channel, status}    pusher:subscription_error
//   member      {client, op, id}             pusher:member_added (op "added") or _removed ("removed")
//   ready       {presence, public}           every client has subscribed to both channels once
//   published   {seq, status, t0, t1, err}   one trigger: 200 or the SDK's failure, and when it ran
//   stopped     {last}                       the last seq the publisher tried
//   snapshot    {client, user, doomed, state, socket, presence_subscribed,
//                public_subscribed, members, count, me, received}
//
// Environment, besides helpers.mjs's PUSHER_*:
//
//   ROLLING_CLIENTS (60), ROLLING_USERS (40)  clients through PUSHER_HOST:PORT;
//       client i is user u<i mod USERS>, so some users hold two connections
//   ROLLING_DOOMED_PORT, ROLLING_DOOMED_CLIENTS (6), ROLLING_DOOMED_USERS (4)
//       when the port is set, more clients (users d<i mod DOOMED_USERS>) go
//       straight to that server, bypassing the proxy, and disconnect for
//       good as soon as their connection drops: their members must then be
//       taken back by the server alone
//   ROLLING_PRESENCE, ROLLING_PUBLIC  the channels (fresh names by default)
//   ROLLING_INTERVAL_MS (20)  the publisher's period
import { createInterface } from "node:readline";
import Pusher from "pusher-js";
import { env, sdk, clientOptions, errorCode, uniq, sleep } from "./helpers.mjs";

const num = (name, def) => Number(process.env[name] || def);
const clients = num("ROLLING_CLIENTS", 60);
const users = num("ROLLING_USERS", 40);
const doomedPort = num("ROLLING_DOOMED_PORT", 0);
const doomedClients = doomedPort ? num("ROLLING_DOOMED_CLIENTS", 6) : 0;
const doomedUsers = num("ROLLING_DOOMED_USERS", 4);
const interval = num("ROLLING_INTERVAL_MS", 20);
const presence = process.env.ROLLING_PRESENCE || uniq("presence-rolling-");
const pub = process.env.ROLLING_PUBLIC || uniq("rolling-");

function emit(line) {
  process.stdout.write(JSON.stringify({ t: Date.now(), ...line }) + "\n");
}

function memberIds(members) {
  const ids = [];
  members.each((m) => ids.push(m.id));
  return ids.sort();
}

// Tracked is one pusher-js client subscribed to both channels, authorized
// by the SDK as an app's auth endpoint would, reporting what it sees.
class Tracked {
  constructor(index, user, { port = env.port, doomed = false } = {}) {
    Object.assign(this, { index, user, doomed, received: [] });
    const info = { name: `User ${user}` };
    this.p = new Pusher(
      env.key,
      clientOptions({
        wsPort: port,
        channelAuthorization: {
          customHandler: ({ socketId, channelName }, callback) => {
            try {
              const member = channelName.startsWith("presence-") ? { user_id: user, user_info: info } : undefined;
              callback(null, sdk.authorizeChannel(socketId, channelName, member));
            } catch (e) {
              callback(e, null);
            }
          },
        },
      }),
    );
    const conn = this.p.connection;
    const gone = () => {
      // A doomed client never comes back; the server must clean up after it.
      if (this.doomed && !this.left) {
        this.left = true;
        setImmediate(() => this.p.disconnect());
      }
    };
    conn.bind("state_change", ({ previous, current }) => {
      emit({ ev: "state", client: index, prev: previous, cur: current });
      if (previous === "connected") gone();
    });
    conn.bind("error", (e) => {
      const code = errorCode(e);
      if (typeof code === "number") {
        emit({ ev: "closed", client: index, code });
        gone();
      }
    });
    this.presence = this.p.subscribe(presence);
    this.public = this.p.subscribe(pub);
    for (const ch of [this.presence, this.public]) {
      ch.bind("pusher:subscription_succeeded", () => {
        const line = { ev: "subscribed", client: index, channel: ch.name, socket: conn.socket_id };
        if (ch === this.presence) Object.assign(line, { members: memberIds(ch.members), count: ch.members.count });
        emit(line);
        this.checkReady();
      });
      ch.bind("pusher:subscription_error", (err) => emit({ ev: "sub_error", client: index, channel: ch.name, status: err?.status }));
    }
    this.presence.bind("pusher:member_added", (m) => emit({ ev: "member", client: index, op: "added", id: m.id }));
    this.presence.bind("pusher:member_removed", (m) => emit({ ev: "member", client: index, op: "removed", id: m.id }));
    this.public.bind("tick", (d) => this.received.push(d.seq));
  }

  checkReady() {
    if (this.ready || !this.presence.subscribed || !this.public.subscribed) return;
    this.ready = true;
    if (all.every((c) => c.ready)) emit({ ev: "ready", presence, public: pub });
  }

  snapshot() {
    const m = this.presence.members;
    return {
      ev: "snapshot",
      client: this.index,
      user: this.user,
      doomed: this.doomed,
      state: this.p.connection.state,
      socket: this.p.connection.socket_id,
      presence_subscribed: this.presence.subscribed,
      public_subscribed: this.public.subscribed,
      members: memberIds(m),
      count: m.count,
      me: m.me?.id ?? null,
      received: this.received,
    };
  }
}

const all = [];
for (let i = 0; i < clients; i++) all.push(new Tracked(i, `u${i % users}`));
for (let i = 0; i < doomedClients; i++) {
  all.push(new Tracked(clients + i, `d${i % doomedUsers}`, { port: doomedPort, doomed: true }));
}

// The publisher: one trigger at a time, so seq order is publish order.
let seq = 0;
let publishing = null;
let stopping = false;
async function publish() {
  while (!stopping) {
    const due = Date.now() + interval;
    const t0 = Date.now();
    const n = seq++;
    let status;
    let err;
    try {
      status = (await sdk.trigger(pub, "tick", { seq: n })).status;
    } catch (e) {
      status = e.status || 0;
      err = String(e.message || e).slice(0, 200);
    }
    emit({ ev: "published", seq: n, status, t0, t1: Date.now(), err });
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
  }
  emit({ ev: "stopped", last: seq - 1 });
}

function exit() {
  for (const c of all) c.p.disconnect();
  setTimeout(() => process.exit(0), 100);
}

createInterface({ input: process.stdin })
  .on("line", (line) => {
    switch (line.trim()) {
      case "start":
        if (!publishing) {
          stopping = false;
          publishing = publish().finally(() => (publishing = null));
        }
        break;
      case "stop":
        stopping = true;
        if (!publishing) emit({ ev: "stopped", last: seq - 1 });
        break;
      case "snapshot":
        for (const c of all) emit(c.snapshot());
        emit({ ev: "snapshot_done" });
        break;
      case "exit":
        exit();
        break;
      case "":
        break;
      default:
        emit({ ev: "unknown_command", line });
    }
  })
  .on("close", exit);

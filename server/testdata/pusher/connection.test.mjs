// Connecting: the handshake pusher-js needs, and the close codes it acts on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { env, client, connected, next, record, errorCode, sleep, Raw } from "./helpers.mjs";

test("pusher-js connects and gets a socket id", { timeout: 15000 }, async (t) => {
  const a = client(t);
  const b = client(t);
  const [ida, idb] = await Promise.all([connected(a), connected(b)]);
  assert.match(ida, /^\d+\.\d+$/);
  assert.match(idb, /^\d+\.\d+$/);
  assert.notEqual(ida, idb, "two connections share a socket_id");
});

test("connection_established carries socket_id and activity_timeout as a JSON string", { timeout: 15000 }, async (t) => {
  const raw = await Raw.open(t, { established: false });
  const f = await raw.next((f) => f.event === "pusher:connection_established", 5000, "connection_established");
  assert.equal(raw.frames[0], f, `the first frame is not connection_established: ${raw.dump()}`);
  assert.equal(typeof f.rawData, "string", `data must be a JSON-encoded string: ${f.raw}`);
  assert.match(f.data.socket_id, /^\d+\.\d+$/);
  assert.equal(f.data.activity_timeout, env.activityTimeout);
});

test("pusher:ping is answered with pusher:pong", { timeout: 15000 }, async (t) => {
  const raw = await Raw.open(t);
  await raw.roundTrip();
});

test("pusher-js: an unknown app key is refused with 4001 and not retried", { timeout: 15000 }, async (t) => {
  const p = client(t, { key: "no-such-app-key" });
  const states = [];
  p.connection.bind("state_change", ({ current }) => states.push(current));
  const errors = record(p.connection, "error");
  await next(p.connection, "disconnected", { ms: 8000, what: "state disconnected" });
  const codes = errors.map(({ data }) => errorCode(data));
  assert.ok(codes.includes(4001), `errors ${JSON.stringify(errors)}, want one with code 4001`);
  // 4000-4099 tells pusher-js not to reconnect.
  await sleep(1500);
  assert.equal(p.connection.state, "disconnected", `states ${states}`);
  assert.equal(states.filter((s) => s === "connected").length, 0, `states ${states}`);
});

test("raw: an unknown app key gets close code 4001", { timeout: 15000 }, async (t) => {
  const raw = await Raw.open(t, { key: "no-such-app-key", established: false });
  const code = await raw.closed;
  assert.equal(code, 4001, `closed with ${code} ${raw.closeReason}; frames ${raw.dump()}`);
  assert.ok(
    !raw.frames.some((f) => f.event === "pusher:connection_established"),
    `an unknown key was welcomed: ${raw.dump()}`,
  );
  for (const f of raw.frames.filter((f) => f.event === "pusher:error")) {
    assert.equal(f.data.code, 4001, `pusher:error before the close: ${f.raw}`);
  }
});

test("raw: an unsupported protocol version gets close code 4007", { timeout: 15000 }, async (t) => {
  // Pusher no longer supports protocols 1, 2 and 3; pusher-js always sends 7.
  const raw = await Raw.open(t, { query: "protocol=2&client=raw&version=1.0", established: false });
  const code = await raw.closed;
  assert.equal(code, 4007, `closed with ${code} ${raw.closeReason}; frames ${raw.dump()}`);
  assert.ok(
    !raw.frames.some((f) => f.event === "pusher:connection_established"),
    `protocol 2 was welcomed: ${raw.dump()}`,
  );
});

// Client events (PUSHER_CLIENT_EVENTS=true): client-* on private and
// presence channels reach the other subscribers, never the sender; public
// channels refuse them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sdk, client, subscribe, next, record, barrier, pusherError, errorCode, uniq, sleep } from "./helpers.mjs";

test("private: a client event reaches the other subscribers and not the sender", { timeout: 15000 }, async (t) => {
  const name = uniq("private-chat-");
  const [a, b, c] = [client(t), client(t), client(t)];
  const [cha, chb, chc] = await Promise.all([subscribe(a, name), subscribe(b, name), subscribe(c, name)]);
  const echo = record(cha, "client-typing");
  const got = Promise.all([next(chb, "client-typing"), next(chc, "client-typing")]);
  assert.equal(cha.trigger("client-typing", { who: "a", text: "héllo" }), true, "pusher-js did not send");
  for (const [data, metadata] of await got) {
    assert.deepEqual(data, { who: "a", text: "héllo" });
    assert.equal(metadata.user_id, undefined, "a private channel's client event names no user");
  }
  await barrier(name, [cha, chb, chc]);
  assert.deepEqual(echo, [], "the sender received its own client event");
});

test("presence: a client event carries the sender's user_id", { timeout: 15000 }, async (t) => {
  const name = uniq("presence-chat-");
  const a = client(t, { user: { id: "alice", info: { name: "Alice" } } });
  const b = client(t, { user: { id: "bob", info: { name: "Bob" } } });
  const [cha, chb] = await Promise.all([subscribe(a, name), subscribe(b, name)]);
  const echo = record(cha, "client-wave");
  const got = next(chb, "client-wave");
  cha.trigger("client-wave", { hand: "right" });
  const [data, metadata] = await got;
  assert.deepEqual(data, { hand: "right" });
  assert.deepEqual(metadata, { user_id: "alice" });
  await barrier(name, [cha, chb]);
  assert.deepEqual(echo, []);
});

test("public: a client event is refused with pusher:error and delivered to nobody", { timeout: 15000 }, async (t) => {
  const name = uniq("pub-noclient-");
  const a = client(t);
  const b = client(t);
  const [cha, chb] = await Promise.all([subscribe(a, name), subscribe(b, name)]);
  const leaked = record(chb, "client-shout");
  const refused = pusherError(a);
  cha.trigger("client-shout", { loud: true });
  const err = await refused;
  assert.equal(typeof err.message, "string", JSON.stringify(err));
  await barrier(name, [cha, chb]);
  assert.deepEqual(leaked, [], "a public channel relayed a client event");
  // Refused, not disconnected: the sender still receives.
  assert.equal(a.connection.state, "connected");
  const still = next(cha, "after");
  await sdk.trigger(name, "after", {});
  await still;
});

test("client events keep their order per sender", { timeout: 15000 }, async (t) => {
  const name = uniq("private-order-");
  const [a, b] = [client(t), client(t)];
  const [cha, chb] = await Promise.all([subscribe(a, name), subscribe(b, name)]);
  const got = record(chb, "client-seq");
  // Under the default PUSHER_CLIENT_EVENT_RATE of 10 per second.
  for (let i = 0; i < 5; i++) cha.trigger("client-seq", { i });
  for (let i = 0; i < 50 && got.length < 5; i++) await sleep(50);
  assert.deepEqual(got.map(({ data }) => data.i), [0, 1, 2, 3, 4]);
});

test("a burst over the client event rate limit is refused with 4301", { timeout: 15000 }, async (t) => {
  // Pusher's limit, and the server's default PUSHER_CLIENT_EVENT_RATE: 10
  // client events per second per connection.
  const name = uniq("private-flood-");
  const [a, b] = [client(t), client(t)];
  const [cha, chb] = await Promise.all([subscribe(a, name), subscribe(b, name)]);
  const got = record(chb, "client-flood");
  const limited = next(a.connection, "error", { filter: (e) => errorCode(e) === 4301, what: "an error with code 4301" });
  for (let i = 0; i < 40; i++) cha.trigger("client-flood", { i });
  await limited;
  await sleep(300);
  assert.ok(got.length >= 1 && got.length < 40, `the peer received ${got.length} of 40 flooded client events`);
  // The limit is the sender's alone.
  const still = next(chb, "after-flood");
  await sdk.trigger(name, "after-flood", {});
  await still;
  assert.equal(b.connection.state, "connected");
});

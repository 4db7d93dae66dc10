// Public channels fed by the server SDK's trigger.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sdk, client, connected, subscribe, next, record, barrier, uniq, json, sleep } from "./helpers.mjs";

test("a triggered event arrives with the same data", { timeout: 15000 }, async (t) => {
  const name = uniq("pub-");
  const ch = await subscribe(client(t), name);
  const cases = [
    ["object", { hello: "world", n: 1, nested: { list: [1, 2, 3], ok: true, none: null } }],
    ["unicode", { text: "grüße 👋 \u2028 \"quoted\" \\ back" }],
    ["string", "just text, not JSON"],
    ["number", 42],
  ];
  for (const [event, data] of cases) {
    const got = next(ch, event);
    await sdk.trigger(name, event, data);
    const [received] = await got;
    assert.deepEqual(received, data, event);
  }
});

test("one trigger to several channels reaches each", { timeout: 15000 }, async (t) => {
  const names = [uniq("pub-a-"), uniq("pub-b-"), uniq("pub-c-")];
  const p = client(t);
  const chans = await Promise.all(names.map((n) => subscribe(p, n)));
  const got = chans.map((ch) => next(ch, "multi"));
  await sdk.trigger(names, "multi", { to: "all" });
  for (const [data] of await Promise.all(got)) assert.deepEqual(data, { to: "all" });
});

test("events on one channel arrive in the order they were triggered", { timeout: 20000 }, async (t) => {
  const name = uniq("pub-order-");
  const ch = await subscribe(client(t), name);
  const got = record(ch, "seq");
  for (let i = 0; i < 25; i++) await sdk.trigger(name, "seq", { i });
  await barrier(name, [ch]);
  assert.deepEqual(got.map(({ data }) => data.i), [...Array(25).keys()]);
});

test("trigger with socket_id excludes that connection only", { timeout: 15000 }, async (t) => {
  const name = uniq("pub-excl-");
  const a = client(t);
  const b = client(t);
  const [cha, chb] = await Promise.all([subscribe(a, name), subscribe(b, name)]);
  const gotA = record(cha, "news");
  const gotB = record(chb, "news");
  await sdk.trigger(name, "news", { n: 1 }, { socket_id: a.connection.socket_id });
  await barrier(name, [cha, chb]);
  assert.equal(gotA.length, 0, `the excluded connection received ${JSON.stringify(gotA)}`);
  assert.deepEqual(gotB.map(({ data }) => data), [{ n: 1 }]);
});

test("after unsubscribing no more events arrive and the channel is vacated", { timeout: 15000 }, async (t) => {
  const name = uniq("pub-unsub-");
  const p = client(t);
  const ch = await subscribe(p, name);
  const got = record(ch, "late");
  p.unsubscribe(name);
  // The server has handled the unsubscribe once the channel reads as vacated.
  let info;
  for (let i = 0; i < 50; i++) {
    info = (await json(sdk.get({ path: `/channels/${name}` }))).body;
    if (info.occupied === false) break;
    await sleep(50);
  }
  assert.equal(info.occupied, false, `channel info after unsubscribe: ${JSON.stringify(info)}`);
  await sdk.trigger(name, "late", { n: 1 });
  await sleep(300);
  assert.equal(got.length, 0, `received after unsubscribe: ${JSON.stringify(got)}`);
});

test("a reconnecting client resubscribes and receives again", { timeout: 20000 }, async (t) => {
  const name = uniq("pub-reconnect-");
  const p = client(t);
  const ch = await subscribe(p, name);
  const first = p.connection.socket_id;
  p.disconnect();
  assert.equal(p.connection.state, "disconnected");
  const resubscribed = next(ch, "pusher:subscription_succeeded", { ms: 8000 });
  p.connect();
  await connected(p, 8000);
  await resubscribed;
  assert.notEqual(p.connection.socket_id, first, "a new connection kept the old socket_id");
  const got = next(ch, "again");
  await sdk.trigger(name, "again", { ok: true });
  assert.deepEqual((await got)[0], { ok: true });
});

// Cache channels: a new subscriber gets the channel's last event at once, or
// pusher:cache_miss when there is none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sdk, client, connected, subscribe, next, record, barrier, uniq, sleep, Raw } from "./helpers.mjs";

test("a new subscriber gets the last event, and only the last", { timeout: 15000 }, async (t) => {
  const name = uniq("cache-last-");
  await sdk.trigger(name, "price", { v: 1 });
  await sdk.trigger(name, "price", { v: 2 });
  const p = client(t);
  await connected(p);
  const ch = p.subscribe(name);
  const prices = record(ch, "price");
  const misses = record(ch, "pusher:cache_miss");
  await next(ch, "pusher:subscription_succeeded");
  for (let i = 0; i < 40 && prices.length === 0; i++) await sleep(25);
  await barrier(name, [ch]);
  assert.deepEqual(prices.map(({ data }) => data), [{ v: 2 }]);
  assert.deepEqual(misses, []);
});

test("a fresh cache channel answers pusher:cache_miss", { timeout: 15000 }, async (t) => {
  const name = uniq("cache-empty-");
  const p = client(t);
  await connected(p);
  const ch = p.subscribe(name);
  const miss = next(ch, "pusher:cache_miss", { what: "pusher:cache_miss" });
  await next(ch, "pusher:subscription_succeeded");
  await miss;
  // And the channel works as any other afterwards.
  const got = next(ch, "first");
  await sdk.trigger(name, "first", { v: 1 });
  assert.deepEqual((await got)[0], { v: 1 });
});

test("raw: cache_miss comes after subscription_succeeded, on the channel", { timeout: 15000 }, async (t) => {
  const name = uniq("cache-raw-");
  const raw = await Raw.open(t);
  const ok = await raw.subscribe(name);
  assert.equal(ok.event, "pusher_internal:subscription_succeeded", ok.raw);
  const miss = await raw.next((f) => f.event === "pusher:cache_miss", 5000, "pusher:cache_miss");
  assert.equal(miss.channel, name);
  assert.ok(raw.frames.indexOf(miss) > raw.frames.indexOf(ok), `frames ${raw.dump()}`);
});

test("private-cache: the last event replays to an authorized subscriber", { timeout: 15000 }, async (t) => {
  const name = uniq("private-cache-");
  await sdk.trigger(name, "state", { open: true });
  const p = client(t);
  await connected(p);
  const ch = p.subscribe(name);
  const got = next(ch, "state", { what: "the cached event" });
  await next(ch, "pusher:subscription_succeeded");
  assert.deepEqual((await got)[0], { open: true });
});

test("presence-cache: the last event replays to a member", { timeout: 15000 }, async (t) => {
  const name = uniq("presence-cache-");
  await sdk.trigger(name, "topic", { title: "cached" });
  const p = client(t, { user: { id: "carol", info: {} } });
  await connected(p);
  const ch = p.subscribe(name);
  const got = next(ch, "topic", { what: "the cached event" });
  await next(ch, "pusher:subscription_succeeded");
  assert.deepEqual((await got)[0], { title: "cached" });
  assert.equal(ch.members.count, 1);
});

test("the cached event is the latest after live traffic", { timeout: 15000 }, async (t) => {
  const name = uniq("cache-live-");
  const first = await subscribe(client(t), name);
  const third = next(first, "tick", { filter: (d) => d.i === 3 });
  for (let i = 1; i <= 3; i++) await sdk.trigger(name, "tick", { i });
  await third; // no barrier here: its event would become the cached one
  const late = client(t);
  await connected(late);
  const ch = late.subscribe(name);
  const ticks = record(ch, "tick");
  await next(ch, "pusher:subscription_succeeded");
  await barrier(name, [ch]);
  assert.deepEqual(ticks.map(({ data }) => data), [{ i: 3 }]);
});

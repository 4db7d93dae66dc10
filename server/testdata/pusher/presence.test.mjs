// Presence channels count users, not connections: a user with two tabs is
// one member, announced once and removed when the last tab leaves.
import { test } from "node:test";
import assert from "node:assert/strict";
import { env, sdk, client, subscribe, next, record, barrier, uniq, sleep, Raw } from "./helpers.mjs";

const alice = { id: "alice", info: { name: "Alice", role: "admin" } };
const bob = { id: "bob", info: { name: "Bob" } };

function members(ch) {
  const all = {};
  ch.members.each((m) => (all[m.id] = m.info));
  return all;
}

test("two users on three connections", { timeout: 30000 }, async (t) => {
  const name = uniq("presence-room-");
  const a1 = client(t, { user: alice });
  const a2 = client(t, { user: alice });
  const b1 = client(t, { user: bob });

  // Alice's first tab joins an empty channel.
  const cha1 = await subscribe(a1, name);
  assert.equal(cha1.members.count, 1);
  assert.deepEqual(cha1.members.me, { id: "alice", info: alice.info });
  assert.deepEqual(members(cha1), { alice: alice.info });
  const addedA1 = record(cha1, "pusher:member_added");
  const removedA1 = record(cha1, "pusher:member_removed");

  // Bob joins: he sees Alice; Alice's tab is told about Bob once.
  const bobAnnounced = next(cha1, "pusher:member_added", { what: "member_added for bob on alice's first tab" });
  const chb1 = await subscribe(b1, name);
  assert.equal(chb1.members.count, 2);
  assert.deepEqual(chb1.members.me, { id: "bob", info: bob.info });
  assert.deepEqual(members(chb1), { alice: alice.info, bob: bob.info });
  const [added] = await bobAnnounced;
  assert.deepEqual(added, { id: "bob", info: bob.info });
  const addedB1 = record(chb1, "pusher:member_added");
  const removedB1 = record(chb1, "pusher:member_removed");

  // Alice's second tab joins: two members still, and nobody hears of a
  // new member (Alice was already there).
  const cha2 = await subscribe(a2, name);
  const addedA2 = record(cha2, "pusher:member_added");
  const removedA2 = record(cha2, "pusher:member_removed");
  assert.equal(cha2.members.count, 2);
  assert.deepEqual(cha2.members.me, { id: "alice", info: alice.info });
  assert.deepEqual(members(cha2), { alice: alice.info, bob: bob.info });
  await barrier(name, [cha1, cha2, chb1]);
  assert.deepEqual(addedB1, [], "bob was told alice joined again when her second tab subscribed");
  assert.deepEqual(addedA1.map(({ data }) => data.id), ["bob"], "alice's first tab: member_added events");
  for (const ch of [cha1, cha2, chb1]) assert.equal(ch.members.count, 2);

  // Alice closes her first tab: she is still present through the second.
  a1.disconnect();
  await sleep(500); // the server notices the close; the barrier then orders the rest
  await barrier(name, [cha2, chb1]);
  assert.deepEqual(removedB1, [], "alice was removed while her second tab is still subscribed");
  assert.deepEqual(removedA2, [], "alice's second tab was told a member left");
  assert.equal(chb1.members.count, 2);

  // Her last tab leaves: now Bob hears it, once.
  const aliceLeft = next(chb1, "pusher:member_removed", { what: "member_removed for alice" });
  a2.unsubscribe(name);
  const [removed] = await aliceLeft;
  assert.deepEqual(removed, { id: "alice", info: alice.info });
  await barrier(name, [chb1]);
  assert.equal(removedB1.length, 1, `member_removed events: ${JSON.stringify(removedB1)}`);
  assert.equal(chb1.members.count, 1);
  assert.deepEqual(members(chb1), { bob: bob.info });
  assert.deepEqual(addedA2, [], "alice's second tab heard of a member joining");
  assert.deepEqual(removedA1, [], "alice's first tab heard of a member leaving before it closed");
});

test("subscription_succeeded carries the presence data the protocol defines", { timeout: 15000 }, async (t) => {
  const name = uniq("presence-raw-");
  await subscribe(client(t, { user: alice }), name);
  await subscribe(client(t, { user: alice }), name);
  const raw = await Raw.open(t);
  const channel_data = { user_id: "bob", user_info: bob.info };
  const { auth } = sdk.authorizeChannel(raw.socketId, name, channel_data);
  const f = await raw.subscribe(name, { auth, channel_data: JSON.stringify(channel_data) });
  assert.equal(f.event, "pusher_internal:subscription_succeeded", f.raw);
  assert.equal(typeof f.rawData, "string", `data must be a JSON-encoded string: ${f.raw}`);
  const { ids, hash, count } = f.data.presence;
  assert.deepEqual([...ids].sort(), ["alice", "bob"]);
  assert.deepEqual(hash, { alice: alice.info, bob: bob.info });
  assert.equal(count, 2);
});

test("member events carry user_id and user_info", { timeout: 15000 }, async (t) => {
  const name = uniq("presence-events-");
  const raw = await Raw.open(t);
  const mine = { user_id: "watcher", user_info: { name: "W" } };
  const { auth } = sdk.authorizeChannel(raw.socketId, name, mine);
  await raw.subscribe(name, { auth, channel_data: JSON.stringify(mine) });
  const from = raw.mark();
  const p = client(t, { user: bob });
  await subscribe(p, name);
  const add = await raw.next((f) => f.event === "pusher_internal:member_added", 5000, "member_added", from);
  assert.equal(add.channel, name);
  assert.deepEqual(add.data, { user_id: "bob", user_info: bob.info });
  p.disconnect();
  const rm = await raw.next((f) => f.event === "pusher_internal:member_removed", 5000, "member_removed", from);
  assert.equal(rm.channel, name);
  assert.deepEqual(rm.data, { user_id: "bob" });
});

test("PUSHER_MAX_PRESENCE_MEMBERS distinct users fit, one more does not", { timeout: 30000 }, async (t) => {
  const max = env.maxPresenceMembers;
  if (!max || max > 20) {
    t.skip(`needs PUSHER_MAX_PRESENCE_MEMBERS set to a small number (got ${max || "unset"})`);
    return;
  }
  const name = uniq("presence-full-");
  const join = async (userId) => {
    const raw = await Raw.open(t);
    const cd = { user_id: userId, user_info: {} };
    const { auth } = sdk.authorizeChannel(raw.socketId, name, cd);
    return { raw, answer: await raw.subscribe(name, { auth, channel_data: JSON.stringify(cd) }) };
  };
  for (let i = 0; i < max; i++) {
    const { answer } = await join(`user${i}`);
    assert.equal(answer.event, "pusher_internal:subscription_succeeded", `user ${i + 1} of ${max}: ${answer.raw}`);
  }
  const { answer: over, raw: overRaw } = await join("one-too-many");
  assert.equal(over.event, "pusher:subscription_error", `user ${max + 1} of ${max}: ${over.raw}`);
  await overRaw.roundTrip(); // refused, not disconnected
  // A second connection of a user already present adds no member.
  const { answer: again } = await join("user0");
  assert.equal(again.event, "pusher_internal:subscription_succeeded", `user0's second connection: ${again.raw}`);
});

// End-to-end encrypted channels: the SDK encrypts with a key derived from
// its master key, pusher-js decrypts with the shared_secret its
// authorization returned, and the server in between relays ciphertext it
// cannot read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sdk, client, subscribe, next, uniq, barrier, record, Raw } from "./helpers.mjs";

test("an encrypted event arrives decrypted in pusher-js", { timeout: 15000 }, async (t) => {
  const name = uniq("private-encrypted-");
  const ch = await subscribe(client(t), name);
  const got = next(ch, "classified");
  const data = { plan: "attack at dawn", n: 7 };
  await sdk.trigger(name, "classified", data);
  assert.deepEqual((await got)[0], data);
});

test("the server relays only ciphertext", { timeout: 15000 }, async (t) => {
  const name = uniq("private-encrypted-raw-");
  const raw = await Raw.open(t);
  // The signature alone lets a connection subscribe; the shared secret
  // is for the client only and never travels to the server.
  const { auth } = sdk.authorizeChannel(raw.socketId, name);
  const ok = await raw.subscribe(name, { auth });
  assert.equal(ok.event, "pusher_internal:subscription_succeeded", ok.raw);
  const from = raw.mark();
  await sdk.trigger(name, "classified", { plan: "attack at dawn" });
  const f = await raw.next((f) => f.event === "classified", 5000, "the encrypted event", from);
  assert.equal(f.channel, name);
  assert.deepEqual(Object.keys(f.data).sort(), ["ciphertext", "nonce"], f.raw);
  assert.ok(!f.raw.includes("attack at dawn"), `plaintext on the wire: ${f.raw}`);
});

test("client events on an encrypted channel are refused", { timeout: 15000 }, async (t) => {
  // pusher-js refuses to send them; a raw client tries anyway.
  const name = uniq("private-encrypted-client-");
  const listener = await subscribe(client(t), name);
  const leaked = record(listener, "client-plain");
  const raw = await Raw.open(t);
  const { auth } = sdk.authorizeChannel(raw.socketId, name);
  await raw.subscribe(name, { auth });
  const from = raw.mark();
  raw.send({ event: "client-plain", channel: name, data: { not: "encrypted" } });
  const err = await raw.next((f) => f.event === "pusher:error", 5000, "pusher:error", from);
  assert.equal(typeof err.data.message, "string", err.raw);
  await barrier(name, [listener]);
  assert.deepEqual(leaked, [], "an unencrypted client event reached an encrypted channel");
});

// Two clients built on the npm ws package, as the seed's own users would
// write them: both connect, both must be greeted, one publishes, both must
// receive the broadcast. Prints one JSON summary line; exits non-zero on any
// failure or after 10 s.
import WebSocket from "ws";

const url = process.argv[2];
const timer = setTimeout(() => fail("timed out"), 10000);

function fail(why) {
  console.error(why);
  process.exit(1);
}

function open(name) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const frames = [];
    ws.on("message", (data, isBinary) => {
      if (isBinary) fail(`${name}: got a binary frame`);
      frames.push(JSON.parse(data.toString()));
      if (frames.length === 1) resolve({ ws, frames });
    });
    ws.on("error", reject);
  });
}

const [a, b] = await Promise.all([open("a"), open("b")]);
a.ws.send(JSON.stringify({ from: "ws", n: 1 }));
a.ws.send("not json");
const want = (c, n) =>
  new Promise((resolve) => {
    const check = () => (c.frames.length >= n ? resolve() : setTimeout(check, 10));
    check();
  });
await Promise.all([want(a, 3), want(b, 2)]);
clearTimeout(timer);
console.log(JSON.stringify({ a: a.frames, b: b.frames }));
a.ws.close(1000);
b.ws.close(1000);

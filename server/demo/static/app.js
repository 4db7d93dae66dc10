// The demo client: one WebSocket to /wss on this page's own origin, a log of
// what arrives, and resume after a disconnect. Offsets are decimal strings
// beyond JavaScript's safe integers, so they are only ever kept and sent back
// as strings.

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const STATS_EVERY_MS = 2000;
const LOG_LIMIT = 300;

const $ = (id) => document.getElementById(id);
const ui = {
  state: $('state'),
  form: $('send-form'),
  payload: $('payload'),
  send: $('send'),
  connections: $('connections'),
  rate: $('rate'),
  lastOffset: $('last-offset'),
  recovered: $('recovered'),
  alert: $('alert'),
  log: $('log'),
};

let socket = null;
let lastOffset = null; // string: the offset of the last message received
let attempt = 0; // failed connections since the last greeting
let retryTimer = 0;
let statsTimer = 0;
let catchUp = null; // {count, left} while a resumed history is arriving

function socketURL() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let url = `${scheme}//${location.host}/wss`;
  if (lastOffset !== null) url += `?since=${encodeURIComponent(lastOffset)}`;
  return url;
}

function setState(state, text) {
  ui.state.dataset.state = state;
  ui.state.textContent = text;
  ui.send.disabled = state !== 'connected';
}

function time() {
  return new Date().toLocaleTimeString([], { hour12: false });
}

// addEntry puts one line at the top of the log and trims the oldest.
function addEntry(kind, parts, attrs = {}) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  Object.assign(li.dataset, attrs);
  const when = document.createElement('time');
  when.textContent = time();
  li.append(when);
  for (const [cls, text] of parts) {
    const span = document.createElement(cls === 'payload' ? 'code' : 'span');
    span.className = cls;
    span.textContent = text;
    li.append(span);
  }
  ui.log.prepend(li);
  while (ui.log.childElementCount > LOG_LIMIT) ui.log.lastElementChild.remove();
}

// rawPayload returns the message exactly as its sender wrote it (minus
// whitespace the server kept), so large numbers inside it are not rounded by
// JSON.parse. The broadcast frame is {"message":<payload>,"offset":"<n>"}.
function rawPayload(text, frame) {
  const head = '{"message":';
  const tail = `,"offset":"${frame.offset}"}`;
  if (text.startsWith(head) && text.endsWith(tail)) {
    return text.slice(head.length, text.length - tail.length);
  }
  return JSON.stringify(frame.message);
}

function connect() {
  clearTimeout(retryTimer);
  const resuming = lastOffset !== null;
  setState('connecting', resuming ? `Reconnecting, resuming after offset ${lastOffset}…` : 'Connecting…');
  const ws = new WebSocket(socketURL());
  socket = ws;
  ws.addEventListener('message', (ev) => {
    if (ws === socket) onFrame(ev.data, resuming);
  });
  ws.addEventListener('close', (ev) => {
    if (ws === socket) onClose(ev);
  });
}

function onFrame(text, resuming) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    addEntry('event', [['note', 'The server sent a frame that is not JSON.']]);
    return;
  }
  if (frame.connection === 'ok') {
    attempt = 0;
    setState('connected', 'Connected');
    addEntry('event', [['note', resuming ? `Reconnected; resuming after offset ${lastOffset}` : 'Connected']]);
    // On a resumed connection the greeting says how many messages come
    // from history before the live ones; without it, a recovery_failed
    // frame follows.
    if (resuming && typeof frame.replay === 'number') startCatchUp(frame.replay);
    pollStats();
    return;
  }
  if (frame.error) {
    onError(frame.error);
    return;
  }
  if (typeof frame.offset === 'string' && 'message' in frame) {
    lastOffset = frame.offset;
    ui.lastOffset.textContent = frame.offset;
    const recovered = catchUp !== null;
    if (recovered) countRecovered();
    addEntry('message', [['offset', frame.offset], ['payload', rawPayload(text, frame)]],
      recovered ? { offset: frame.offset, recovered: '' } : { offset: frame.offset });
  }
}

function onError(err) {
  const code = String(err.code || 'error');
  const detail = String(err.detail || '');
  addEntry('error', [['code', code], ['detail', detail]], { code });
  if (code === 'recovery_failed') {
    // The server sends no history after this frame, only live messages.
    cancelCatchUp();
    ui.alert.textContent = `Some messages may be missing: the server could not resume from offset ${lastOffset}. ${detail} Showing live messages from here on.`;
    ui.alert.hidden = false;
  }
}

function startCatchUp(replay) {
  ui.recovered.hidden = true;
  catchUp = { count: 0, left: replay };
  if (replay === 0) endCatchUp();
}

function cancelCatchUp() {
  catchUp = null;
}

function countRecovered() {
  catchUp.count++;
  if (--catchUp.left === 0) endCatchUp();
}

function endCatchUp() {
  const n = catchUp.count;
  catchUp = null;
  ui.recovered.dataset.count = String(n);
  ui.recovered.textContent = n === 1
    ? 'Back online: recovered 1 message sent while this page was disconnected.'
    : `Back online: recovered ${n} messages sent while this page was disconnected.`;
  ui.recovered.hidden = false;
}

function describeClose(ev) {
  if (ev.code === 1006) return 'connection lost';
  return ev.reason ? `code ${ev.code}: ${ev.reason}` : `code ${ev.code}`;
}

function onClose(ev) {
  cancelCatchUp();
  clearTimeout(statsTimer);
  ui.connections.textContent = '–';
  ui.rate.textContent = '–';
  addEntry('event', [['note', `Disconnected (${describeClose(ev)})`]], { close: String(ev.code) });
  scheduleReconnect();
}

// scheduleReconnect waits a jittered exponential backoff, so that the
// clients of a server that went away do not all return at the same moment.
function scheduleReconnect() {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
  attempt++;
  ui.state.dataset.retryAt = String(Date.now() + delay);
  setState('waiting', `Disconnected; reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt})`);
  retryTimer = setTimeout(connect, delay);
}

async function pollStats() {
  clearTimeout(statsTimer);
  try {
    const resp = await fetch('/demo/stats', { cache: 'no-store' });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const stats = await resp.json();
    ui.connections.textContent = String(stats.connections);
    ui.rate.textContent = Number(stats.messagesPerSecond).toFixed(1);
  } catch {
    ui.connections.textContent = '–';
    ui.rate.textContent = '–';
  }
  if (socket && socket.readyState === WebSocket.OPEN) {
    statsTimer = setTimeout(pollStats, STATS_EVERY_MS);
  }
}

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  // Sent as typed: the server is the judge of what is JSON, and its error
  // frame is what this demo shows.
  socket.send(ui.payload.value);
});

ui.payload.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    ui.form.requestSubmit();
  }
});

window.addEventListener('online', () => {
  if (ui.state.dataset.state === 'waiting') connect();
});

connect();

// mmsgate console: a single page drawn from the gateway's own API (docs/console.md).
// Every piece of text from a message, a number or a webhook is put into the page with
// textContent or an attribute, never as HTML, so a body of "<script>" stays text.

let session = null;
let errorMeanings = new Map();
const eventListeners = new Set();
let pageTimers = [];

// ---- small helpers ------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'value') {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function safeHref(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

// Text with its http(s) URLs as links; everything else stays text.
function linkified(text) {
  const parts = [];
  const re = /https?:\/\/[^\s<>"']+/g;
  let last = 0;
  for (const match of text.matchAll(re)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const href = safeHref(match[0]);
    parts.push(href ? h('a', {href, target: '_blank', rel: 'noopener', class: 'media-link'}, match[0])
                    : match[0]);
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function toast(text, bad = false) {
  const box = document.getElementById('toast');
  const item = h('div', {class: bad ? 'msg bad' : 'msg'}, text);
  box.append(item);
  setTimeout(() => item.remove(), bad ? 8000 : 4000);
}

function when(timestamp) {
  if (!timestamp) return '';
  const d = new Date(timestamp);
  if (isNaN(d)) return '';
  return d.toLocaleString(undefined, {month: 'short', day: 'numeric', hour: '2-digit',
                                      minute: '2-digit', second: '2-digit'});
}

function bytes(n) {
  n = Number(n || 0);
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MB';
  if (n >= 1024) return (n / 1024).toFixed(1) + ' KB';
  return n + ' B';
}

function duration(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return '';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 120000) return (ms / 1000).toFixed(1) + ' s';
  return (ms / 60000).toFixed(1) + ' min';
}

const FINAL = new Set(['DELIVERED', 'UNDELIVERED', 'FAILED', 'RECEIVED', 'CANCELED']);
const STATUSES = ['ACCEPTED', 'SCHEDULED', 'QUEUED', 'SENDING', 'SENT', 'DELIVERED', 'UNDELIVERED',
                  'FAILED', 'RECEIVED', 'CANCELED'];
const DIRECTIONS = {OUTBOUND_API: 'outbound', INBOUND: 'inbound', OUTBOUND_REPLY: 'reply'};
const DELIVERED_AS = {
  MMS: 'as MMS, with its media',
  SMS: 'as SMS',
  SMS_WITH_LINK: 'as SMS with a link to its media',
  DELIVERED_AS_UNSPECIFIED: 'not decided yet',
};
const FALLBACK = {
  NONE: 'none',
  CARRIER_NO_MMS: 'the destination carrier does not take MMS',
  INTERNATIONAL: 'the destination is outside the US and Canada',
  OVER_CARRIER_SIZE_LIMIT: 'the media is larger than the carrier takes',
};

function statusBadge(status) {
  return h('span', {class: 'status ' + status}, status.toLowerCase());
}

function kindOf(m) {
  if (m.delivered_as === 'SMS_WITH_LINK') return {label: 'SMS + link', cls: 'link'};
  if (m.delivered_as === 'MMS') return {label: 'MMS', cls: 'mms'};
  if (m.delivered_as === 'SMS') return {label: 'SMS', cls: 'sms'};
  return Number(m.num_media) > 0 ? {label: 'MMS', cls: 'mms'} : {label: 'SMS', cls: 'sms'};
}

function kindBadge(m) {
  const kind = kindOf(m);
  return h('span', {class: 'kind ' + kind.cls}, kind.label);
}

function errorCell(m) {
  const code = Number(m.error_code || 0);
  if (!code) return '';
  const meaning = errorMeanings.get(code) || m.error_message || '';
  return [h('span', {class: 'errcode', title: meaning}, String(code)), ' ',
          h('span', {class: 'muted'}, meaning)];
}

// GSM 03.38 basic set and its extension: text outside it is sent as UCS-2.
const GSM7 = new Set(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f');
function encodingOf(text) {
  for (const ch of text || '') if (!GSM7.has(ch)) return 'UCS-2';
  return 'GSM-7';
}

// ---- the API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(code, message, status) {
    super(`${code}: ${message}`);
    this.code = code;
    this.status = status;
  }
}

async function rpc(service, method, request = {}) {
  const response = await fetch(`/console/api/rpc/${service}/${method}`, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token},
    body: JSON.stringify(request),
    credentials: 'same-origin',
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
  }
  if (response.status === 401) {
    location.href = '/console/login?next=' + encodeURIComponent(location.pathname);
    throw new ApiError(20003, 'signed out', 401);
  }
  if (!response.ok) throw new ApiError(body.code || response.status, body.message || '', response.status);
  return body;
}

async function loadErrorMeanings() {
  try {
    const text = await (await fetch('/console/assets/errors.md')).text();
    for (const line of text.split('\n')) {
      const match = line.match(/^\|\s*<a id="(\d+)"><\/a>\d+\s*\|[^|]*\|([^|]*)\|/);
      if (match) errorMeanings.set(Number(match[1]), match[2].replace(/`/g, '').trim());
    }
  } catch {
  }
}

function startEvents() {
  const live = document.getElementById('live');
  const source = new EventSource('/console/api/events?after=' + session.last_event_id);
  live.classList.add('on');
  source.onopen = () => live.classList.add('on');
  // An answered event request ends and EventSource asks again: only a closed source is offline.
  source.onerror = () => live.classList.toggle('on', source.readyState !== EventSource.CLOSED);
  source.onmessage = (e) => {
    live.classList.add('on');
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return;
    }
    for (const listener of eventListeners) listener(event);
  };
  source.addEventListener('gap', () => {
    for (const listener of eventListeners) listener({kind: 'RESET'});
  });
}

// ---- routing --------------------------------------------------------------------------------

function navigate(path) {
  history.pushState({}, '', path);
  render();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-route]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', () => render());

function routeLink(path, ...children) {
  return h('a', {href: path, 'data-route': true}, ...children);
}

function render() {
  eventListeners.clear();
  for (const timer of pageTimers) clearInterval(timer);
  pageTimers = [];
  const view = document.getElementById('view');
  view.replaceChildren();
  const path = location.pathname.replace(/\/+$/, '');
  const parts = path.split('/').filter(Boolean);  // ["console", page, arg]
  const page = parts[1] || 'messages';
  const arg = parts[2] ? decodeURIComponent(parts[2]) : '';
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.nav === page);
  }
  const pages = {messages: arg ? messageDetail : messagesPage, handsets: handsetsPage,
                 carriers: carriersPage, numbers: numbersPage};
  const draw = pages[page];
  if (!draw) {
    view.append(h('p', {}, 'No such page. ', routeLink('/console/messages', 'Messages')));
    return;
  }
  draw(view, arg).catch((err) => {
    view.append(h('p', {class: 'error'}, err.message));
  });
}

// ---- Messages -------------------------------------------------------------------------------

function newestFirst(a, b) {
  const ta = Date.parse(a.date_created || 0), tb = Date.parse(b.date_created || 0);
  if (ta !== tb) return tb - ta;
  return Number(b.sequence || 0) - Number(a.sequence || 0);
}

async function messagesPage(view) {
  const rows = new Map();
  let nextPage = '';
  const fresh = new Set();
  const statusSelect = h('select', {name: 'status'}, h('option', {value: ''}, 'any status'),
                         STATUSES.map((s) => h('option', {value: s}, s.toLowerCase())));
  const directionSelect = h('select', {name: 'direction'}, h('option', {value: ''}, 'any direction'),
                            Object.entries(DIRECTIONS).map(([k, v]) => h('option', {value: k}, v)));
  const fallbackSelect = h('select', {name: 'fallback'}, h('option', {value: ''}, 'any delivery'),
                           h('option', {value: 'any'}, 'fell back to SMS'),
                           h('option', {value: 'CARRIER_NO_MMS'}, 'fallback: carrier without MMS'),
                           h('option', {value: 'INTERNATIONAL'}, 'fallback: international'),
                           h('option', {value: 'OVER_CARRIER_SIZE_LIMIT'}, 'fallback: too large'),
                           h('option', {value: 'NONE'}, 'no fallback'));
  const numberInput = h('input', {type: 'text', name: 'number', placeholder: 'number (from or to)',
                                  value: new URLSearchParams(location.search).get('number') || ''});
  const searchInput = h('input', {type: 'search', name: 'q', placeholder: 'search text or SID'});
  const tbody = h('tbody');
  const countLine = h('span', {class: 'muted'});
  const moreButton = h('button', {type: 'button', class: 'quiet', onclick: () => loadPage()}, 'Load older');

  function matches(m) {
    if (statusSelect.value && m.status !== statusSelect.value) return false;
    if (directionSelect.value && m.direction !== directionSelect.value) return false;
    const fb = fallbackSelect.value;
    if (fb === 'any' && (m.fallback_reason || 'NONE') === 'NONE') return false;
    if (fb && fb !== 'any' && (m.fallback_reason || 'NONE') !== fb) return false;
    const number = numberInput.value.trim();
    if (number && !(m.from || '').includes(number) && !(m.to || '').includes(number)) return false;
    const q = searchInput.value.trim().toLowerCase();
    if (q && ![m.body, m.sid, m.from, m.to, m.delivered_text].some(
                 (f) => (f || '').toLowerCase().includes(q))) {
      return false;
    }
    return true;
  }

  function row(m) {
    const tr = h('tr', {'data-sid': m.sid, class: 'clickable' + (fresh.has(m.sid) ? ' fresh' : '')},
                 h('td', {class: 'mono'}, routeLink('/console/messages/' + m.sid, m.sid)),
                 h('td', {}, when(m.date_created)),
                 h('td', {}, h('span', {class: 'mono'}, m.from), ' → ', h('span', {class: 'mono'}, m.to),
                   h('div', {class: 'muted'}, DIRECTIONS[m.direction] || '')),
                 h('td', {}, kindBadge(m)),
                 h('td', {}, statusBadge(m.status)),
                 h('td', {}, errorCell(m)),
                 h('td', {}, m.carrier_id || ''),
                 h('td', {class: 'muted'}, (m.body || '').slice(0, 60)));
    tr.addEventListener('click', (e) => {
      if (!e.target.closest('a')) navigate('/console/messages/' + m.sid);
    });
    return tr;
  }

  function draw() {
    const shown = [...rows.values()].filter(matches).sort(newestFirst);
    tbody.replaceChildren(...shown.map(row));
    if (shown.length === 0) {
      tbody.append(h('tr', {}, h('td', {colspan: 8, class: 'muted'},
                                 rows.size ? 'No loaded message matches the filters.' :
                                             'No messages yet. Send one over gRPC or REST and it appears here.')));
    }
    countLine.textContent = `${shown.length} shown of ${rows.size} loaded` +
                            (nextPage ? ' (older messages: Load older)' : '');
    moreButton.disabled = !nextPage;
    fresh.clear();
  }

  async function loadPage(first = false) {
    const request = {page_size: 50};
    if (!first) request.page_token = nextPage;
    if (statusSelect.value) request.status = statusSelect.value;
    const page = await rpc('Messaging', 'ListMessages', request);
    for (const m of page.messages || []) rows.set(m.sid, m);
    nextPage = page.next_page_token || '';
    draw();
  }

  function reload() {
    rows.clear();
    nextPage = '';
    loadPage(true).catch((err) => toast(err.message, true));
  }

  statusSelect.addEventListener('change', reload);
  for (const input of [directionSelect, fallbackSelect]) input.addEventListener('change', draw);
  for (const input of [numberInput, searchInput]) input.addEventListener('input', draw);

  // Events come in batches (hundreds under load): the table is drawn once per frame, not once
  // per event.
  let drawPending = false;
  eventListeners.add((event) => {
    if (event.kind === 'RESET') return reload();
    const m = event.message;
    if (!m || !m.sid) return;
    if (!rows.has(m.sid)) fresh.add(m.sid);
    rows.set(m.sid, m);
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      draw();
    });
  });

  view.append(h('h2', {}, 'Messages'),
              h('div', {class: 'filters'}, statusSelect, directionSelect, fallbackSelect, numberInput,
                searchInput),
              h('table', {class: 'messages'},
                h('thead', {}, h('tr', {}, ['SID', 'Time', 'From → To', 'Kind', 'Status', 'Error',
                                            'Carrier', 'Body'].map((t) => h('th', {}, t)))),
                tbody),
              h('div', {class: 'pager'}, moreButton, countLine));
  await loadPage(true);
}

// ---- Message detail -------------------------------------------------------------------------

async function messageDetail(view, sid) {
  const seen = [];  // live transitions observed while the page is open
  const container = h('div');
  view.append(h('p', {}, routeLink('/console/messages', '← Messages')), container);

  async function draw() {
    const m = await rpc('Messaging', 'GetMessage', {sid});
    container.replaceChildren(detail(m, seen));
  }
  eventListeners.add((event) => {
    if (event.kind === 'RESET') return draw().catch((err) => toast(err.message, true));
    if (!event.message || event.message.sid !== sid) return;
    seen.push({status: event.message.status, time: event.time});
    draw().catch((err) => toast(err.message, true));
  });
  await draw();
}

function timelineOf(m, seen) {
  const entries = [];
  const add = (status, time, note) => {
    if (!time) return;
    entries.push({status, time: Date.parse(time), note});
  };
  const first = m.direction === 'INBOUND' ? 'RECEIVED' : (m.send_at ? 'SCHEDULED' : 'ACCEPTED');
  add(first, m.date_created, m.direction === 'INBOUND' ? 'from the handset' : 'by the API');
  if (m.date_sent && m.direction !== 'INBOUND') add('SENT', m.date_sent, 'handed to the carrier');
  for (const a of m.webhook_attempts || []) {
    if (a.kind === 'STATUS_CALLBACK' && a.reported_status) {
      add(a.reported_status, a.started_at, 'reported to the status callback');
    }
  }
  for (const s of seen) add(s.status, s.time, 'seen live');
  if (FINAL.has(m.status)) add(m.status, m.date_updated, 'final');
  // One entry per status, its earliest time. A message's statuses only move forward, so they are
  // listed in that order: a status callback is posted a little after its transition, and may
  // start after the next transition happened.
  const byStatus = new Map();
  for (const e of entries) {
    const have = byStatus.get(e.status);
    if (!have || e.time < have.time) byStatus.set(e.status, e);
  }
  const rank = (status) => (FINAL.has(status) ? 100 : STATUSES.indexOf(status));
  const list = [...byStatus.values()].sort((a, b) => rank(a.status) - rank(b.status) || a.time - b.time);
  return list.map((e, i) => ({...e, took: i > 0 ? Math.max(0, e.time - list[i - 1].time) : null}));
}

function detail(m, seen) {
  const media = (m.media || []).map((item) => h('figure', {},
      item.content_type.startsWith('image/') ?
          h('img', {src: `/console/media/${m.sid}/${item.sid}`, alt: item.filename || item.sid,
                    'data-media-sid': item.sid}) :
          h('a', {href: `/console/media/${m.sid}/${item.sid}`, target: '_blank'}, item.filename || item.sid),
      h('figcaption', {}, `${item.content_type} · ${bytes(item.size)}`,
        Number(item.original_size) && Number(item.original_size) !== Number(item.size) ?
            ` (was ${item.original_content_type || ''} ${bytes(item.original_size)})` : '')));
  const link = m.link_url ? safeHref(m.link_url) : null;
  const facts = [
    ['SID', h('span', {class: 'mono'}, m.sid)],
    ['Direction', DIRECTIONS[m.direction] || m.direction],
    ['From → To', [h('span', {class: 'mono'}, m.from), ' → ', h('span', {class: 'mono'}, m.to)]],
    ['Status', statusBadge(m.status)],
    ['Error', Number(m.error_code) ? [errorCell(m), h('div', {class: 'muted'}, m.error_message || '')] : 'none'],
    ['Kind', kindBadge(m)],
    ['Delivered', DELIVERED_AS[m.delivered_as] || m.delivered_as],
    ['Fallback reason', FALLBACK[m.fallback_reason] || m.fallback_reason || 'none'],
    ['Carrier', m.carrier_id || '—'],
    ['Segments', `${m.num_segments} · ${encodingOf(m.delivered_text || m.body)}`],
    ['Created', when(m.date_created)],
    ['Sent', when(m.date_sent) || '—'],
    ['Updated', when(m.date_updated)],
  ];
  if (m.send_at) facts.push(['Send at', when(m.send_at)]);
  if (m.messaging_service_sid) facts.push(['Messaging service', h('span', {class: 'mono'}, m.messaging_service_sid)]);
  if (m.reply_to_sid) {
    facts.push(['In reply to', [routeLink('/console/messages/' + m.reply_to_sid, m.reply_to_sid),
                                 h('span', {class: 'muted'}, ' (the inbound message whose TwiML produced it)')]]);
  }
  if (m.status_callback) facts.push(['Status callback', m.status_callback]);

  const attempts = m.webhook_attempts || [];
  const attemptRows = attempts.map((a) => h('tr', {},
      h('td', {}, a.kind === 'INBOUND_WEBHOOK' ? 'inbound webhook' : 'status callback' +
                  (a.reported_status ? ` (${a.reported_status.toLowerCase()})` : '')),
      h('td', {class: 'mono'}, a.url),
      h('td', {}, when(a.started_at)),
      h('td', {}, Number(a.http_status) ? String(a.http_status) : 'no answer'),
      h('td', {}, duration(Number(a.duration_ms))),
      h('td', {class: 'errcode'}, a.error || ''),
      h('td', {}, h('details', {}, h('summary', {}, `${(a.request_fields || []).length} fields`),
                    h('table', {class: 'fields'}, (a.request_fields || []).map(
                        (f) => h('tr', {}, h('td', {class: 'mono'}, f.name), h('td', {class: 'mono'}, f.value))))))));

  return h('div', {class: 'message-detail', 'data-sid': m.sid},
    h('h2', {}, 'Message ', h('span', {class: 'mono'}, m.sid)),
    h('div', {class: 'grid2'},
      h('div', {class: 'panel'}, h('dl', {class: 'facts'}, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      h('div', {class: 'panel'}, h('h3', {}, 'Status timeline'),
        h('ol', {class: 'timeline'}, timelineOf(m, seen).map((e) => h('li', {},
            statusBadge(e.status), ' ', h('span', {class: 'when'}, new Date(e.time).toLocaleTimeString(),
                e.took !== null ? ` · +${duration(e.took)}` : ''), h('div', {class: 'muted'}, e.note)))),
        h('h3', {}, 'Body'), h('pre', {class: 'body'}, m.body || ''),
        m.delivered_text && m.delivered_text !== m.body ?
            [h('h3', {}, 'Text the handset received'), h('pre', {class: 'body'}, linkified(m.delivered_text))] : '')),
    h('div', {class: 'panel'}, h('h3', {}, `Media (${m.num_media})`),
      media.length ? h('div', {class: 'media-list'}, media) : h('p', {class: 'muted'}, 'No media.'),
      link ? h('p', {}, 'Replaced by the link ', h('a', {href: link, target: '_blank', class: 'media-link'}, m.link_url)) : ''),
    h('div', {class: 'panel attempts'}, h('h3', {}, 'Webhook and status-callback attempts'),
      attempts.length ?
          h('table', {}, h('thead', {}, h('tr', {}, ['Kind', 'URL', 'Started', 'Response', 'Latency', 'Error',
                                                     'Form fields'].map((t) => h('th', {}, t)))),
            h('tbody', {}, attemptRows)) :
          h('p', {class: 'muted'}, m.status_callback ? 'None yet.' : 'No status callback or webhook for this message.')));
}

// ---- Handsets -------------------------------------------------------------------------------

async function knownHandsets() {
  const [page, numbers] = await Promise.all([
    rpc('Messaging', 'ListMessages', {page_size: 500}),
    rpc('Accounts', 'ListNumbers', {}),
  ]);
  const own = new Set((numbers.numbers || []).map((n) => n.number));
  const phones = new Map();
  for (const m of page.messages || []) {
    const phone = m.direction === 'INBOUND' ? m.from : m.to;
    if (phone && !own.has(phone) && !phones.has(phone)) phones.set(phone, m.date_created);
  }
  return {phones: [...phones.keys()], own: [...own]};
}

function handsetList(phones, current) {
  const open = h('input', {type: 'text', name: 'open-number', placeholder: '+15555550100'});
  return h('div', {class: 'panel handset-list'},
    h('h3', {}, 'Handsets'),
    phones.length ? phones.map((p) => h('a', {href: '/console/handsets/' + encodeURIComponent(p), 'data-route': true,
                                             class: p === current ? 'active mono' : 'mono'}, p)) :
                    h('p', {class: 'muted'}, 'No handset has messaged this account yet.'),
    h('form', {class: 'controls', onsubmit: (e) => {
      e.preventDefault();
      if (open.value.trim()) navigate('/console/handsets/' + encodeURIComponent(open.value.trim()));
    }}, open, h('button', {type: 'submit', class: 'quiet'}, 'Open')));
}

async function handsetsPage(view, number) {
  const {phones, own} = await knownHandsets();
  if (!number) {
    view.append(h('h2', {}, 'Handsets'),
                h('div', {class: 'handsets'}, handsetList(phones, ''),
                  h('div', {class: 'panel muted'}, 'Every subscriber number is a phone. Pick one to see its ' +
                                                   'conversations as the phone shows them, and to send from it.')));
    return;
  }
  const threads = h('div', {class: 'threads'});
  const to = h('select', {name: 'to'}, own.map((n) => h('option', {value: n}, n)));
  const body = h('textarea', {name: 'body', placeholder: 'Text message'});
  const files = h('input', {type: 'file', name: 'attachments', multiple: true});
  const send = h('button', {type: 'submit'}, 'Send');
  const compose = h('form', {class: 'compose', onsubmit: async (e) => {
    e.preventDefault();
    send.disabled = true;
    try {
      const media = [];
      for (const file of files.files) {
        const data = await new Promise((resolve, reject) => {
          const reader = new FileReader();
          reader.onload = () => resolve(String(reader.result).split(',')[1] || '');
          reader.onerror = () => reject(reader.error);
          reader.readAsDataURL(file);
        });
        media.push({content_type: file.type || 'application/octet-stream', data, filename: file.name});
      }
      const m = await rpc('Simulator', 'SendFromHandset', {from: number, to: to.value, body: body.value, media});
      toast(`Sent ${m.sid} (${m.status.toLowerCase()})`);
      body.value = '';
      files.value = '';
      await refresh();
    } catch (err) {
      toast(err.message, true);
    } finally {
      send.disabled = false;
    }
  }}, h('div', {class: 'row'}, h('span', {class: 'muted'}, 'to'), to), h('div', {class: 'row'}, body, send), files);

  async function refresh() {
    const [inbox, sent] = await Promise.all([
      rpc('Simulator', 'GetHandsetInbox', {number}),
      rpc('Messaging', 'ListMessages', {from: number, page_size: 200}),
    ]);
    const byPeer = new Map();
    const thread = (peer) => {
      if (!byPeer.has(peer)) byPeer.set(peer, []);
      return byPeer.get(peer);
    };
    for (const m of inbox.messages || []) {
      thread(m.from).push({time: Date.parse(m.received_at), dir: 'in', inbox: m});
    }
    for (const m of sent.messages || []) {
      if (m.direction === 'INBOUND') thread(m.to).push({time: Date.parse(m.date_created), dir: 'out', message: m});
    }
    // MMS bubbles show the message's stored media, served by mmsgate.
    const details = new Map();
    await Promise.all((inbox.messages || []).filter((m) => m.kind === 'MMS' && m.message_sid).map(async (m) => {
      try {
        details.set(m.message_sid, await rpc('Messaging', 'GetMessage', {sid: m.message_sid}));
      } catch {
      }
    }));
    const sections = [...byPeer.entries()].map(([peer, items]) => {
      items.sort((a, b) => a.time - b.time);
      return h('section', {class: 'thread', 'data-number': number, 'data-peer': peer},
               h('h4', {}, peer), items.map((item) => bubble(item, details)));
    });
    threads.replaceChildren(...(sections.length ? sections : [h('p', {class: 'muted'}, 'No messages on this phone yet.')]));
    threads.scrollTop = threads.scrollHeight;
  }

  let pending = null;
  eventListeners.add((event) => {
    const m = event.message;
    if (event.kind !== 'RESET' && (!m || (m.to !== number && m.from !== number))) return;
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch((err) => toast(err.message, true)), 150);
  });

  view.append(h('h2', {}, 'Handset ', h('span', {class: 'mono'}, number)),
              h('div', {class: 'handsets'}, handsetList(phones, number),
                h('div', {class: 'phone', 'data-number': number},
                  h('div', {class: 'screen'}, h('div', {class: 'bar'}, number, h('small', {}, 'simulated handset')),
                    threads, compose))));
  await refresh();
}

function bubble(item, details) {
  if (item.dir === 'in') {
    const m = item.inbox;
    const stored = details.get(m.message_sid);
    const images = [];
    if (m.kind === 'MMS') {
      if (stored) {
        for (const media of stored.media || []) {
          const src = `/console/media/${stored.sid}/${media.sid}`;
          images.push(media.content_type.startsWith('image/') ?
                          h('img', {src, alt: media.filename || media.sid}) :
                          h('a', {href: src, target: '_blank'}, `📎 ${media.content_type} · ${bytes(media.size)}`));
        }
      } else {
        for (const media of m.media || []) images.push(h('div', {class: 'muted'}, `[${media.content_type} · ${bytes(media.size)}]`));
      }
    }
    return h('div', {class: 'bubble in', 'data-sid': m.message_sid || ''}, images, linkified(m.text || ''),
             h('span', {class: 'meta'}, `${when(m.received_at)} · ${m.kind === 'MMS' ? 'MMS' : 'SMS'}` +
                                       (m.segments > 1 ? ` · ${m.segments} segments` : '') + ` · ${m.carrier_id || ''}`));
  }
  const m = item.message;
  const images = (m.media || []).map((media) => media.content_type.startsWith('image/') ?
      h('img', {src: `/console/media/${m.sid}/${media.sid}`, alt: media.filename || media.sid}) :
      h('div', {}, `📎 ${media.content_type}`));
  return h('div', {class: 'bubble out', 'data-sid': m.sid}, images, m.body || '',
           h('span', {class: 'meta'}, `${when(m.date_created)} · ${m.status.toLowerCase()}`));
}

// ---- Carriers -------------------------------------------------------------------------------

async function carriersPage(view) {
  const grid = h('div', {class: 'carriers'});
  const cards = new Map();
  const previous = new Map();  // carrier id -> {submitted, at}
  view.append(h('h2', {}, 'Carriers'),
              h('p', {class: 'muted'}, 'Live from Simulator.ListCarriers, every second. Faults and edits are ' +
                                       'Simulator.SetCarrierFault and Simulator.UpsertCarrier: they need the ' +
                                       'admin token when mmsgate runs with --admin-token.'),
              grid);

  function card(state) {
    const c = state.carrier;
    const kind = h('select', {name: 'kind'}, [['OUTAGE', 'outage'], ['MMS_UNSUPPORTED', 'no MMS'],
                                              ['EXTRA_LATENCY', 'extra latency'], ['EXTRA_LOSS', 'extra loss']]
                                                 .map(([v, t]) => h('option', {value: v}, t)));
    const seconds = h('input', {type: 'number', name: 'duration', min: 1, value: 60});
    const extraLatency = h('input', {type: 'number', name: 'extra_latency_ms', min: 0, value: 2000});
    const extraLoss = h('input', {type: 'number', name: 'extra_loss', min: 0, max: 1, step: 0.05, value: 0.5});
    const maxMps = h('input', {type: 'number', name: 'max_mps', min: 0, step: 'any', value: c.max_mps});
    const median = h('input', {type: 'number', name: 'median_ms', min: 0, step: 'any',
                               value: c.latency ? c.latency.median_ms : 0});
    const p99 = h('input', {type: 'number', name: 'p99_ms', min: 0, step: 'any', value: c.latency ? c.latency.p99_ms : 0});
    const latencyLabel = h('label', {}, '+', extraLatency, 'ms');
    const lossLabel = h('label', {}, 'loss', extraLoss);
    const showFaultInputs = () => {
      latencyLabel.hidden = kind.value !== 'EXTRA_LATENCY';
      lossLabel.hidden = kind.value !== 'EXTRA_LOSS';
    };
    kind.addEventListener('change', showFaultInputs);
    showFaultInputs();
    const live = h('div', {class: 'live-stats'});
    const el = h('div', {class: 'panel carrier', 'data-carrier': c.id},
      h('h3', {}, h('span', {}, c.name || c.id, ' ', h('span', {class: 'muted mono'}, c.id)),
        h('span', {class: 'flags'}, h('span', {}, c.country), c.supports_mms ? h('span', {}, 'MMS') :
                                                                              h('span', {class: 'nommss'}, 'no MMS'))),
      live,
      h('form', {class: 'controls fault-form', onsubmit: async (e) => {
        e.preventDefault();
        const fault = {kind: kind.value, duration_seconds: Number(seconds.value)};
        if (kind.value === 'EXTRA_LATENCY') fault.extra_latency_ms = Number(extraLatency.value);
        if (kind.value === 'EXTRA_LOSS') fault.extra_loss = Number(extraLoss.value);
        try {
          await rpc('Simulator', 'SetCarrierFault', {carrier_id: c.id, fault});
          toast(`${kind.selectedOptions[0].textContent} on ${c.id} for ${seconds.value} s`);
          poll();
        } catch (err) {
          toast(err.message, true);
        }
      }}, kind, h('label', {}, 'for', seconds, 's'), latencyLabel, lossLabel, h('button', {type: 'submit', class: 'danger start-fault'}, 'Start fault')),
      h('form', {class: 'controls edit-form', onsubmit: async (e) => {
        e.preventDefault();
        const carrier = {...cards.get(c.id).carrier, max_mps: Number(maxMps.value),
                         latency: {median_ms: Number(median.value), p99_ms: Number(p99.value)}};
        try {
          await rpc('Simulator', 'UpsertCarrier', {carrier});
          toast(`${c.id} updated`);
          poll();
        } catch (err) {
          toast(err.message, true);
        }
      }}, h('label', {}, 'max mps', maxMps), h('label', {}, 'latency p50', median), h('label', {}, 'p99', p99),
        h('button', {type: 'submit', class: 'quiet save-carrier'}, 'Save')));
    return {el, live, carrier: c};
  }

  function stat(value, label) {
    return h('div', {class: 'stat'}, h('b', {}, value), h('span', {}, label));
  }

  async function poll() {
    let list;
    try {
      list = await rpc('Simulator', 'ListCarriers', {});
    } catch (err) {
      grid.replaceChildren(h('p', {class: 'error'}, err.message));
      cards.clear();
      return;
    }
    const now = performance.now();
    for (const state of list.carriers || []) {
      const c = state.carrier;
      let entry = cards.get(c.id);
      if (!entry) {
        entry = card(state);
        cards.set(c.id, entry);
        grid.append(entry.el);
      }
      entry.carrier = c;
      const s = state.stats || {};
      const submitted = Number(s.submitted || 0);
      const before = previous.get(c.id);
      const rate = before && now > before.at ? (submitted - before.submitted) / ((now - before.at) / 1000) : 0;
      previous.set(c.id, {submitted, at: now});
      const failures = Object.entries(s.undelivered_by_code || {});
      entry.live.replaceChildren(
        h('div', {class: 'stats'}, stat(rate.toFixed(1), 'msg/s'), stat(String(submitted), 'submitted'),
          stat(String(s.delivered || 0), 'delivered'), stat(String(s.queued_now || 0), 'queue depth'),
          stat(duration(Number(s.latency_p50_ms)), 'p50'), stat(duration(Number(s.latency_p90_ms)), 'p90'),
          stat(duration(Number(s.latency_p99_ms)), 'p99'), stat(String(s.fallback_count || 0), 'fell back')),
        h('div', {class: 'muted'}, `max ${c.max_mps || '∞'} msg/s · latency p50 ${duration(c.latency ? c.latency.median_ms : 0)}` +
                                   ` · p99 ${duration(c.latency ? c.latency.p99_ms : 0)} · failure rate ${c.failure_rate || 0}`),
        failures.length ? h('div', {}, 'Failures: ', failures.map(([code, n]) =>
            h('span', {class: 'errcode', title: errorMeanings.get(Number(code)) || ''}, `${code} × ${n} `))) :
                          h('div', {class: 'muted'}, 'No failures.'),
        Number(s.expired) ? h('div', {class: 'muted'}, `${s.expired} expired in the queue`) : '',
        ...(state.faults || []).map((f) => h('div', {class: 'fault', 'data-fault': f.fault.kind},
            `${f.fault.kind.replace('_', ' ').toLowerCase()}: ${Math.ceil(f.remaining_seconds)} s left`)));
    }
  }

  await poll();
  pageTimers.push(setInterval(poll, 1000));
}

// ---- Numbers and account --------------------------------------------------------------------

async function numbersPage(view) {
  const [numbers, account, usage] = await Promise.all([
    rpc('Accounts', 'ListNumbers', {}), rpc('Accounts', 'GetAccount', {}), rpc('Accounts', 'GetUsage', {})]);
  const settings = account.settings || {};
  const intl = h('input', {type: 'checkbox', name: 'disable_international_mms_conversion',
                           checked: settings.disable_international_mms_conversion});
  const mediaAuth = h('input', {type: 'checkbox', name: 'enforce_media_auth', checked: settings.enforce_media_auth});
  view.append(
    h('h2', {}, 'Numbers & account'),
    h('div', {class: 'panel'}, h('h3', {}, 'Numbers'),
      h('table', {class: 'numbers'}, h('thead', {}, h('tr', {}, ['Number', 'Type', 'Country', 'SMS', 'MMS', 'Inbound webhook',
                                                                  'Status callback', 'Rate'].map((t) => h('th', {}, t)))),
        h('tbody', {}, (numbers.numbers || []).map((n) => h('tr', {'data-number': n.number},
          h('td', {class: 'mono'}, routeLink('/console/messages?number=' + encodeURIComponent(n.number), n.number)),
          h('td', {}, (n.type || '').replace('_', ' ').toLowerCase()), h('td', {}, n.country),
          h('td', {}, n.capabilities && n.capabilities.sms ? 'yes' : 'no'),
          h('td', {}, n.capabilities && n.capabilities.mms ? 'yes' : 'no'),
          h('td', {class: 'mono'}, n.sms_url || '—'), h('td', {class: 'mono'}, n.status_callback || '—'),
          h('td', {}, Number(n.mps) ? `${n.mps} msg/s` : 'default')))))),
    h('div', {class: 'grid2'},
      h('div', {class: 'panel'}, h('h3', {}, 'Account'),
        h('dl', {class: 'facts'}, h('dt', {}, 'SID'), h('dd', {class: 'mono'}, account.sid),
          h('dt', {}, 'Name'), h('dd', {}, account.friendly_name || '—')),
        h('form', {class: 'settings', onsubmit: async (e) => {
          e.preventDefault();
          try {
            await rpc('Accounts', 'UpdateAccountSettings', {settings: {
              disable_international_mms_conversion: intl.checked, enforce_media_auth: mediaAuth.checked}});
            toast('Settings saved');
          } catch (err) {
            toast(err.message, true);
          }
        }},
          h('p', {}, h('label', {}, intl, ' Disable international MMS conversion ',
                         h('span', {class: 'muted'}, '(MMS abroad fails instead of becoming SMS + link)'))),
          h('p', {}, h('label', {}, mediaAuth, ' Enforce HTTP auth on media URLs')),
          h('button', {type: 'submit'}, 'Save settings'))),
      h('div', {class: 'panel'}, h('h3', {}, 'Usage'),
        h('table', {class: 'usage'}, h('thead', {}, h('tr', {}, ['Category', 'Count', 'Segments', 'Price'].map((t) => h('th', {}, t)))),
          h('tbody', {}, (usage.entries || []).length ? usage.entries.map((u) => h('tr', {},
            h('td', {}, u.category), h('td', {}, String(u.count)), h('td', {}, String(u.segments)),
            h('td', {}, `$${(Number(u.price_cents) / 100).toFixed(2)}`))) :
            h('tr', {}, h('td', {colspan: 4, class: 'muted'}, 'Nothing used yet.')))))));
}

// ---- start ----------------------------------------------------------------------------------

async function main() {
  const response = await fetch('/console/api/session', {credentials: 'same-origin'});
  if (!response.ok) {
    location.href = '/console/login?next=' + encodeURIComponent(location.pathname);
    return;
  }
  session = await response.json();
  document.getElementById('who').textContent = session.friendly_name ?
      `${session.friendly_name} · ${session.account_sid}` : session.account_sid;
  document.getElementById('signout').addEventListener('click', async () => {
    await fetch('/console/logout', {method: 'POST', headers: {'X-CSRF-Token': session.csrf_token}});
    location.href = '/console/login';
  });
  await loadErrorMeanings();
  startEvents();
  render();
}

main();

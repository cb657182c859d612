/**
 * The dashboard: one static page on the admin port that calls the admin API. A string module, so the
 * build ships it without copying assets. The token (when the admin API has one) comes from the URL
 * fragment (#token=…), which browsers never send to servers, and stays in sessionStorage.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f8fa; }
  header { background: #1b1f24; color: #fff; padding: 10px 20px; font-weight: 600; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; padding: 16px 20px; }
  section { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { width: 100%; border-collapse: collapse; }
  td, th { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  button, a.event { cursor: pointer; }
  a.event { color: #0969da; text-decoration: underline; }
  pre { background: #f6f8fa; padding: 8px; overflow: auto; max-height: 320px; }
  .paused { color: #9a6700; } .running { color: #1a7f37; } .error { color: #cf222e; }
</style>
</head>
<body>
<header>Switchboard <a id="queues" href="/admin/queues" style="color:#9ecbff;margin-left:16px;font-weight:400">BullMQ queues</a></header>
<main>
  <section><h2>Connectors</h2><table id="connectors"></table></section>
  <section><h2>Functions and routes</h2><table id="functions"></table></section>
  <section><h2>Live tail</h2><table id="tail"></table></section>
  <section><h2>Event journal</h2><div id="journal">Click an event.</div></section>
  <section style="grid-column: 1 / 3"><h2>Dead letters</h2><table id="dead-letters"></table></section>
</main>
<script>
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) sessionStorage.setItem('switchboard-token', fromHash);
  const token = sessionStorage.getItem('switchboard-token');
  // The queue view's own requests cannot send a header: hand it the token as a same-site cookie.
  if (token) document.cookie = 'switchboard_admin=' + encodeURIComponent(token) + '; path=/admin/queues; SameSite=Strict';
  const lastCounts = new Map();
  let lastAt = Date.now();
  const api = async (path, init = {}) => {
    const res = await fetch('/admin' + path, { ...init, headers: { ...(token ? { authorization: 'Bearer ' + token } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}) } });
    if (!res.ok) throw new Error(path + ': ' + res.status);
    return res.json();
  };
  const cell = (text) => { const td = document.createElement('td'); td.textContent = text; return td; };
  const row = (cells) => { const tr = document.createElement('tr'); cells.forEach((c) => tr.append(c instanceof Node ? c : cell(c))); return tr; };
  async function showJournal(id) {
    const box = document.getElementById('journal');
    try {
      const { journal } = await api('/events/' + encodeURIComponent(id));
      box.innerHTML = '';
      const title = document.createElement('div'); title.textContent = id; title.id = 'journal-id';
      const pre = document.createElement('pre'); pre.id = 'journal-entries';
      pre.textContent = journal.map((e) => e.at + '  ' + e.kind + '  ' + JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'at' && k !== 'kind')))).join('\\n');
      box.append(title, pre);
    } catch (err) { box.textContent = String(err); }
  }
  async function refresh() {
    try {
      const connectors = await api('/connectors');
      const now = Date.now();
      const seconds = Math.max(0.001, (now - lastAt) / 1000);
      document.getElementById('connectors').replaceChildren(row(['name', 'type', 'state', 'events/s', 'accepted', 'rejected']), ...connectors.map((c) => {
        const s = cell(c.state); s.className = c.state;
        const before = lastCounts.get(c.name);
        const rate = before === undefined ? '' : ((c.events.received - before) / seconds).toFixed(1);
        lastCounts.set(c.name, c.events.received);
        return row([c.name, c.type, s, rate, String(c.events.accepted), String(c.events.rejected)]);
      }));
      lastAt = now;
      const functions = await api('/functions');
      document.getElementById('functions').replaceChildren(row(['name', 'waiting', 'active', 'failed', 'completed (kept)']), ...functions.map((f) => row([f.name + (f.paused ? ' (paused)' : ''), String(f.counts.waiting), String(f.counts.active), String(f.counts.failed), String(f.counts.completed)])));
      const events = await api('/events?limit=20');
      document.getElementById('tail').replaceChildren(row(['event', 'at']), ...events.map((e) => { const a = document.createElement('a'); a.className = 'event'; a.textContent = e.id; a.dataset.id = e.id; a.onclick = () => showJournal(e.id); const td = document.createElement('td'); td.append(a); return row([td, e.at]); }));
      const letters = await api('/dead-letters');
      document.getElementById('dead-letters').replaceChildren(row(['function', 'event', 'error', 'failed at', '']), ...letters.map((l) => {
        const button = document.createElement('button'); button.textContent = 'Replay'; button.dataset.job = l.jobId;
        button.onclick = async () => { button.disabled = true; await api('/dead-letters/replay', { method: 'POST', body: JSON.stringify({ function: l.function, jobId: l.jobId }) }); refresh(); };
        const td = document.createElement('td'); td.append(button);
        return row([l.function, l.event.id, l.error, l.failedAt || '', td]);
      }));
    } catch (err) {
      document.querySelector('header').textContent = 'Switchboard — ' + err.message;
    }
  }
  refresh();
  setInterval(refresh, 1000);
</script>
</body>
</html>`;

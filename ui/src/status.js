// The Targets and Status views: what stoker scrapes and how each profile
// endpoint is doing (from /api/v1/targets), and where profiles go
// (remote_write endpoints and their outbox, /api/v1/remote_write), with the
// loaded config (secrets shown as <secret>).

import * as api from './api.js';
import { escapeHtml } from './flamegraph.js';
import { formatTime } from './format.js';

// An outbox figure; null when the outbox could not be read (outboxError says why).
const figure = (v) => (v === null || v === undefined ? '–' : v);

function labels(obj) {
  return Object.entries(obj || {}).map(([k, v]) => `<span class="lbl">${escapeHtml(k)}=<b>${escapeHtml(v)}</b></span>`).join(' ');
}

function when(text) {
  if (!text) return '–';
  const t = Date.parse(text);
  if (isNaN(t)) return escapeHtml(text);
  const s = Math.round((Date.now() - t) / 1000);
  return `<span title="${escapeHtml(formatTime(t))}">${s < 120 ? `${s}s` : `${Math.round(s / 60)}m`} ago</span>`;
}

export class TargetsView {
  constructor(host) {
    this.host = host;
  }

  async onState() {
    this.host.innerHTML = '<section class="panel"><h2>Targets</h2><div class="body">Loading…</div></section>';
    const body = this.host.querySelector('.body');
    try {
      const t = await api.targets();
      if (!t.activeTargets.length && !t.droppedTargets.length) {
        body.innerHTML = '<p class="note">stoker has no targets. Add <code>scrape_configs</code> to its config (see <a href="/status">Status</a> for the loaded config).</p>';
        return;
      }
      const rows = [];
      for (const tg of t.activeTargets) {
        const types = Object.entries(tg.profiles || {});
        types.forEach(([type, p], i) => {
          rows.push(`<tr>${i === 0 ? `<td rowspan="${types.length}">${escapeHtml(tg.scrapePool)}</td><td rowspan="${types.length}">${labels(tg.labels)}</td>` : ''}
            <td><a href="${escapeHtml(p.scrapeUrl)}">${escapeHtml(type)}</a></td>
            <td class="health ${escapeHtml(p.health)}">${escapeHtml(p.health)}</td>
            <td>${when(p.lastScrape)}</td><td class="num">${p.lastScrape ? `${(p.lastScrapeDuration * 1000).toFixed(0)} ms` : '–'}</td>
            <td class="num">${p.scrapes}</td><td class="err">${escapeHtml(p.lastError || '')}</td></tr>`);
        });
      }
      body.innerHTML = `<table class="grid"><thead><tr><th>Job</th><th>Labels</th><th>Profile</th><th>State</th>
        <th>Last scrape</th><th class="num">Duration</th><th class="num">Scrapes</th><th>Last error</th></tr></thead>
        <tbody>${rows.join('')}</tbody></table>
        <p class="note">${t.droppedTargets.length} target(s) dropped by relabeling. JSON: <a href="/api/v1/targets">/api/v1/targets</a></p>`;
    } catch (e) {
      body.innerHTML = `<p class="banner error">Cannot load the targets: ${escapeHtml(e.message)}</p>`;
    }
  }
}

// The cluster panel: this replica, its peers, its share of the clustered
// jobs' targets and the last rebalance (hidden without a cluster section).
function clusterHtml(c) {
  const share = c.clusteredTargets ? Math.round((100 * c.ownedTargets) / c.clusteredTargets) : 0;
  const peers = c.peers.map((p) => (p === c.name ? `<b class="self">${escapeHtml(p)}</b>` : escapeHtml(p))).join(', ');
  const from = c.source === 'kubernetes' ? 'Ready pods (Kubernetes API)' : 'static_peers';
  let html = '';
  if (c.membershipError) {
    html += `<p class="banner error">Cannot reach the Kubernetes API since ${when(c.membershipErrorSince)}; the last known peers are kept. ${escapeHtml(c.membershipError)}</p>`;
  }
  if (!c.known) html += '<p class="banner">Waiting for the first list of peers: clustered jobs scrape nothing yet.</p>';
  else if (c.source === 'kubernetes' && !c.selfListed) {
    html += `<p class="banner">This replica (${escapeHtml(c.name)}) is not among the Ready pods: it scrapes its share anyway. If this lasts, check <code>cluster.name</code> or <code>$POD_NAME</code>.</p>`;
  }
  html += `<table class="kv"><tbody>
    <tr><th>This replica</th><td>${escapeHtml(c.name)}</td></tr>
    <tr><th>Peers</th><td>${c.peers.length} from ${from}: ${peers || '–'}</td></tr>
    <tr><th>Its share</th><td>${c.ownedTargets} of ${c.clusteredTargets} clustered targets (${share} %)${c.drainingLoops ? `, ${c.drainingLoops} scrape loop(s) being handed over` : ''}</td></tr>
    <tr><th>Last rebalance</th><td>${when(c.lastRebalance)}${c.lastRebalance ? ` · +${c.lastGainedLoops} / −${c.lastLostLoops} scrape loops · ${c.rebalances} peer list(s) applied` : ''}</td></tr>
    </tbody></table>
    <p class="note">JSON: <a href="/api/v1/status/cluster">/api/v1/status/cluster</a></p>`;
  return html;
}

export class StatusView {
  constructor(host) {
    this.host = host;
  }

  async showCluster() {
    const panel = this.host.querySelector('.cluster');
    try {
      const c = await api.cluster();
      if (!c.enabled) return;
      panel.querySelector('.cl').innerHTML = clusterHtml(c);
      panel.hidden = false;
    } catch (e) {
      panel.querySelector('.cl').innerHTML = `<p class="banner error">${escapeHtml(e.message)}</p>`;
      panel.hidden = false;
    }
  }

  async onState() {
    this.host.innerHTML = `<section class="panel cluster" hidden><h2>Cluster</h2><div class="cl"></div></section>
      <section class="panel"><h2>Forwarding (remote_write)</h2><div class="rw">Loading…</div></section>
      <section class="panel"><h2>Loaded config</h2><pre class="cfg">Loading…</pre>
      <p class="note">Also: <a href="/metrics">/metrics</a> · <a href="/api/v1/status/config">/api/v1/status/config</a> · <a href="/-/ready">/-/ready</a></p></section>`;
    this.showCluster();
    const rw = this.host.querySelector('.rw');
    try {
      const d = await api.remoteWrite();
      rw.innerHTML = d.endpoints.length ? `<table class="grid"><thead><tr><th>Endpoint</th><th>State</th><th class="num">Pending</th>
        <th>Oldest pending</th><th>Last success</th><th class="num">Set aside</th><th class="num">Dropped</th><th>Last error</th></tr></thead><tbody>
        ${d.endpoints.map((e) => `<tr><td>${escapeHtml(e.name)}<div class="sub">${escapeHtml(e.url)}</div></td><td>${escapeHtml(e.state)}</td>
          <td class="num">${figure(e.pending)}</td><td>${when(e.oldestPendingTime)}</td><td>${when(e.lastSuccessTime)}</td>
          <td class="num">${figure(e.setAside)}</td><td class="num">${figure(e.droppedForSpace)}</td>
          <td class="err">${escapeHtml([e.lastError, e.outboxError].filter(Boolean).join('; '))}</td></tr>`).join('')}
        </tbody></table>` : '<p class="note">No <code>remote_write</code> endpoints: profiles stay in the local store only.</p>';
      if (d.lastReloadError) rw.innerHTML += `<p class="banner error">Last reload failed: ${escapeHtml(d.lastReloadError)}</p>`;
    } catch (e) {
      rw.innerHTML = `<p class="banner error">${escapeHtml(e.message)}</p>`;
    }
    try {
      const c = await api.config();
      this.host.querySelector('.cfg').textContent = c.yaml;
    } catch (e) {
      this.host.querySelector('.cfg').textContent = e.message;
    }
  }
}

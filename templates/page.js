// denytrail page (src/page): progressive enhancement of the server-rendered
// table. Draws the chart, filters and sorts rows, copies policies and, on
// the live page, refreshes everything from the JSON report. Values from
// logs are only ever set with textContent, never parsed as HTML.
(function () {
  'use strict';
  var root = document.documentElement;
  root.classList.remove('nojs');
  root.classList.add('js');
  var data = JSON.parse(document.getElementById('denytrail-data').textContent);
  var table = document.getElementById('groups');
  var groupTemplate = document.getElementById('group-template');
  var form = document.querySelector('form.filters');
  var sortKey = 'count';
  var sortDir = -1;
  var SVG = 'http://www.w3.org/2000/svg';
  var COLOURS = ['#b42318', '#0b5cad', '#2f855a', '#b7791f', '#6b46c1', '#c05621', '#2c7a7b', '#97266d', '#718096'];
  var TOP_ACTIONS = 8;

  // ---- The values a row shows: the same as src/page/view.rs builds.
  function describeReason(r) {
    var s;
    if (r.kind === 'explicit') s = r.policy_type ? 'explicit deny in a ' + r.policy_type : 'explicit deny';
    else if (r.kind === 'implicit') s = r.policy_type ? 'no ' + r.policy_type + ' allows it' : 'no policy allows it';
    else s = 'not stated in the message';
    if (r.policy_arn) s += ' (' + r.policy_arn + ')';
    return s;
  }
  function more(n) {
    return n > data.max_list ? '\u2026 and ' + (n - data.max_list) + ' more' : '';
  }
  function list(items) {
    return { items: items.slice(0, data.max_list), more: more(items.length) };
  }
  function pretty(doc) {
    return JSON.stringify(doc, null, 2);
  }
  // The whole advice: the hint's text, then each note it names (the
  // report's notes table holds their text), as Hint::advice joins them.
  function advice(h, notes) {
    var out = h.text || '';
    (h.notes || []).forEach(function (id) {
      var t = notes[id];
      if (t == null) return;
      if (out !== '') out += '\n';
      out += t;
    });
    return out;
  }
  // A hint names its policy documents by index in the report's policies.
  function groupView(g, notes, policies) {
    var h = g.hint || {};
    var docs = [];
    if (h.policy != null && policies[h.policy] != null) docs.push({ title: 'policy', json: pretty(policies[h.policy]) });
    if (h.resource_policy != null && policies[h.resource_policy] != null) {
      docs.push({ title: 'resource-side policy', json: pretty(policies[h.resource_policy]) });
    }
    return {
      principal: g.principal, action: g.action, count: String(g.count), hint: h.code || '',
      codes: (h.codes || []).join(', '), text: advice(h, notes),
      first_seen: g.first_seen || '', last_seen: g.last_seen || '',
      via: (g.via || []).join(', '), accounts: (g.accounts || []).join(', '),
      regions: (g.regions || []).join(', '), example: g.example_message || '',
      resources: list((g.resources || []).map(function (r) { return { text: r.arn, count: '\u00d7' + r.count }; })),
      sessions: list((g.sessions || []).map(function (s) { return { text: s, count: '' }; })),
      reasons: list((g.reasons || []).map(function (r) { return { text: describeReason(r), count: '\u00d7' + r.count }; })),
      documents: docs
    };
  }
  function humanBytes(b) {
    var u = ['B', 'kB', 'MB', 'GB', 'TB'];
    var v = b, i = 0;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return i === 0 ? b + ' B' : v.toFixed(1) + ' ' + u[i];
  }
  function utc(unix) {
    return new Date(Math.floor(unix) * 1000).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  }

  // ---- Rows, from the model in <template id="group-template">.
  function fields(el) {
    return Array.prototype.slice.call(el.querySelectorAll('[data-f]'));
  }
  function fillList(container, items, fill) {
    var model = container.querySelector(':scope > template');
    Array.prototype.slice.call(container.children).forEach(function (c) {
      if (c !== model) c.remove();
    });
    items.forEach(function (it) {
      var node = model.content.firstElementChild.cloneNode(true);
      fill(node, it);
      container.appendChild(node);
    });
  }
  function fillItem(node, it) {
    fields(node).forEach(function (f) {
      var v = it[f.dataset.f];
      if (f.dataset.f === 'count' && !v) f.remove(); else f.textContent = v == null ? '' : v;
    });
  }
  function renderGroup(v) {
    var tbody = groupTemplate.content.firstElementChild.cloneNode(true);
    tbody.dataset.principal = v.principal;
    tbody.dataset.action = v.action;
    tbody.dataset.hint = v.hint;
    tbody.dataset.count = v.count;
    tbody.dataset.last = v.last_seen;
    var flat = {
      principal: v.principal, action: v.action, count: v.count, hint: v.hint, last_seen: v.last_seen,
      codes: v.codes, text: v.text, first_seen: v.first_seen, via: v.via, accounts: v.accounts,
      regions: v.regions, example: v.example, reasons_more: v.reasons.more,
      resources_more: v.resources.more, sessions_more: v.sessions.more
    };
    fields(tbody).forEach(function (f) { f.textContent = flat[f.dataset.f]; });
    ['reasons', 'resources', 'sessions'].forEach(function (k) {
      fillList(tbody.querySelector('[data-list="' + k + '"]'), v[k].items, fillItem);
      tbody.querySelector('[data-box="' + k + '"]').hidden = k !== 'reasons' && v[k].items.length === 0;
    });
    fillList(tbody.querySelector('[data-list="documents"]'), v.documents, fillItem);
    armCopy(tbody);
    return tbody;
  }
  function key(tbody) {
    return tbody.dataset.principal + '\u0000' + tbody.dataset.action;
  }
  function rows() {
    return Array.prototype.slice.call(table.tBodies);
  }

  // ---- Filters: the same rules as src/page/filter.rs.
  var NOT_SEARCHED = { count: 1, hint: 1, title: 1, reasons_more: 1, resources_more: 1, sessions_more: 1 };
  function searchText(tbody) {
    return fields(tbody).filter(function (f) { return !NOT_SEARCHED[f.dataset.f]; })
      .map(function (f) { return f.textContent; }).join('\n').toLowerCase();
  }
  function currentFilter() {
    var f = {};
    ['principal', 'action', 'hint', 'q'].forEach(function (k) { f[k] = form.elements[k].value; });
    return f;
  }
  function matches(tbody, f) {
    return tbody.dataset.principal.toLowerCase().indexOf(f.principal.toLowerCase()) >= 0 &&
      (!f.action || tbody.dataset.action === f.action) &&
      (!f.hint || tbody.dataset.hint === f.hint) &&
      (!f.q || searchText(tbody).indexOf(f.q.toLowerCase()) >= 0);
  }
  function applyFilter() {
    var f = currentFilter();
    var shown = 0;
    rows().forEach(function (t) {
      var ok = matches(t, f);
      t.hidden = !ok;
      if (ok) shown++;
    });
    setText('shown', shown);
    setText('total', data.total);
    document.getElementById('empty').hidden = shown > 0;
    var params = new URLSearchParams();
    Object.keys(f).forEach(function (k) { if (f[k]) params.set(k, f[k]); });
    var qs = params.toString();
    try {
      history.replaceState(null, '', qs ? '?' + qs : location.pathname);
    } catch (e) { /* file:// pages may refuse; the filter still applies */ }
  }
  function syncSelect(name, values) {
    var sel = form.elements[name];
    var cur = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    values.forEach(function (v) {
      var o = document.createElement('option');
      o.textContent = v;
      o.value = v;
      sel.appendChild(o);
    });
    sel.value = cur;
  }

  // ---- Sorting.
  function compare(a, b) {
    var d;
    if (sortKey === 'count') d = Number(a.dataset.count) - Number(b.dataset.count);
    else d = a.dataset[sortKey] < b.dataset[sortKey] ? -1 : a.dataset[sortKey] > b.dataset[sortKey] ? 1 : 0;
    if (d !== 0) return d * sortDir;
    // Ties: the report's order (principal, then action).
    return a.dataset.principal < b.dataset.principal ? -1 : a.dataset.principal > b.dataset.principal ? 1 :
      a.dataset.action < b.dataset.action ? -1 : a.dataset.action > b.dataset.action ? 1 : 0;
  }
  function applySort() {
    rows().sort(compare).forEach(function (t) { table.appendChild(t); });
    table.querySelectorAll('thead th[data-sort]').forEach(function (th) {
      if (th.dataset.sort === sortKey) th.setAttribute('aria-sort', sortDir < 0 ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    });
  }
  table.querySelectorAll('thead th[data-sort]').forEach(function (th) {
    th.tabIndex = 0;
    function go() {
      if (sortKey === th.dataset.sort) sortDir = -sortDir;
      else { sortKey = th.dataset.sort; sortDir = sortKey === 'count' || sortKey === 'last' ? -1 : 1; }
      applySort();
    }
    th.addEventListener('click', go);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); } });
  });

  // ---- Copy buttons.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }
  function legacyCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    var ok = document.execCommand('copy');
    ta.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error('copy refused'));
  }
  function armCopy(scope) {
    scope.querySelectorAll('button.copy').forEach(function (b) { b.hidden = false; });
  }
  table.addEventListener('click', function (e) {
    var b = e.target.closest('button.copy');
    if (!b) return;
    var text = b.closest('.doc').querySelector('pre.policy').textContent;
    copyText(text).then(function () {
      b.textContent = 'Copied';
      b.classList.add('done');
    }, function () {
      b.textContent = 'Copy failed: select the text';
    }).then(function () {
      setTimeout(function () { b.textContent = 'Copy policy'; b.classList.remove('done'); }, 4000);
    });
  });

  // ---- The chart: stacked bars per time bucket, one colour per action.
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(e);
    return e;
  }
  function niceMax(m) {
    if (m <= 4) return Math.max(m, 1);
    var p = Math.pow(10, Math.floor(Math.log10(m)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= m) return steps[i] * p;
    return 10 * p;
  }
  function timeLabel(t, w) {
    var s = new Date(t * 1000).toISOString();
    return w >= 86400 ? s.slice(0, 10) : s.slice(5, 10) + ' ' + s.slice(11, 16);
  }
  function drawChart(tl) {
    var box = document.getElementById('chart');
    box.textContent = '';
    var series = (tl && tl.series || []).filter(function (s) { return s.points.length > 0; });
    if (series.length === 0) {
      var p = document.createElement('p');
      p.className = 'note';
      p.textContent = tl ? 'No denials with an event time yet.' : 'This report carries no time series.';
      box.appendChild(p);
      return;
    }
    var w = tl.bucket_seconds;
    series.forEach(function (s) { s.total = s.points.reduce(function (a, p) { return a + p[1]; }, 0); });
    series.sort(function (a, b) { return b.total - a.total || (a.action < b.action ? -1 : 1); });
    var shown = series.slice(0, TOP_ACTIONS);
    if (series.length > TOP_ACTIONS) {
      var rest = { action: 'other actions', total: 0, points: [] };
      series.slice(TOP_ACTIONS).forEach(function (s) { rest.total += s.total; rest.points = rest.points.concat(s.points); });
      shown.push(rest);
    }
    var lo = Infinity, hi = -Infinity;
    shown.forEach(function (s) { s.points.forEach(function (p) { lo = Math.min(lo, p[0]); hi = Math.max(hi, p[0]); }); });
    var n = (hi - lo) / w + 1;
    if (n < 12) { lo -= Math.floor((12 - n) / 2) * w; n = 12; }
    var cols = [];
    for (var i = 0; i < n; i++) cols.push(shown.map(function () { return 0; }));
    shown.forEach(function (s, k) { s.points.forEach(function (p) { cols[(p[0] - lo) / w][k] += p[1]; }); });
    var max = niceMax(Math.max.apply(null, cols.map(function (c) { return c.reduce(function (a, b) { return a + b; }, 0); })));
    var W = 720, H = 230, ml = 44, mr = 8, mt = 8, mb = 26;
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'Denials over time by action' });
    var pw = W - ml - mr, ph = H - mt - mb, bw = pw / n;
    // Gridlines at 0, half and the top; the half only where it is a whole count.
    [0, 0.5, 1].filter(function (f) { return Number.isInteger(max * f); }).forEach(function (f) {
      var y = mt + ph - f * ph;
      el('line', { x1: ml, x2: W - mr, y1: y, y2: y, 'class': 'axis' }, svg);
      var t = el('text', { x: ml - 6, y: y + 4, 'text-anchor': 'end' }, svg);
      t.textContent = String(max * f);
    });
    cols.forEach(function (c, i) {
      var y = mt + ph;
      c.forEach(function (v, k) {
        if (!v) return;
        var h = v / max * ph;
        y -= h;
        var r = el('rect', { x: ml + i * bw + bw * 0.08, y: y, width: Math.max(bw * 0.84, 1), height: h, fill: COLOURS[k % COLOURS.length] }, svg);
        var tt = el('title', {}, r);
        tt.textContent = shown[k].action + ': ' + v + ' at ' + utc(lo + i * w) + ' (' + (w / 60) + ' min buckets)';
      });
    });
    var ticks = Math.min(6, n);
    for (var j = 0; j < ticks; j++) {
      var b = Math.round(j * (n - 1) / Math.max(ticks - 1, 1));
      var x = ml + b * bw + bw / 2;
      var lab = el('text', { x: x, y: H - 8, 'text-anchor': j === 0 ? 'start' : j === ticks - 1 ? 'end' : 'middle' }, svg);
      lab.textContent = timeLabel(lo + b * w, w);
    }
    box.appendChild(svg);
    var legend = document.createElement('ul');
    legend.className = 'legend';
    shown.forEach(function (s, k) {
      var li = document.createElement('li');
      var sw = document.createElement('span');
      sw.className = 'sw';
      sw.style.background = COLOURS[k % COLOURS.length];
      li.appendChild(sw);
      li.appendChild(document.createTextNode(s.action + ' \u00d7' + s.total));
      legend.appendChild(li);
    });
    var unit = document.createElement('li');
    unit.className = 'unit';
    unit.textContent = 'UTC, ' + (w >= 3600 ? w / 3600 + ' h' : w / 60 + ' min') + ' per bar';
    legend.appendChild(unit);
    box.appendChild(legend);
  }

  // ---- Live: everything from the JSON report.
  function setText(k, v) {
    document.querySelectorAll('[data-s="' + k + '"]').forEach(function (e) { e.textContent = String(v); });
  }
  function renderTop(groups) {
    var by = {};
    groups.forEach(function (g) { by[g.principal] = (by[g.principal] || 0) + g.count; });
    var v = Object.keys(by).map(function (p) { return [p, by[p]]; });
    v.sort(function (a, b) { return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0); });
    v = v.slice(0, data.top_principals);
    var max = v.length ? Math.max(v[0][1], 1) : 1;
    var ol = document.getElementById('top');
    ol.textContent = '';
    var dl = document.getElementById('principals');
    dl.textContent = '';
    v.forEach(function (p) {
      var li = document.createElement('li');
      var bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = Math.floor(p[1] * 100 / max) + '%';
      var t = document.createElement('span');
      t.className = 't';
      t.textContent = p[0];
      var n = document.createElement('span');
      n.className = 'n';
      n.textContent = String(p[1]);
      li.appendChild(bar);
      li.appendChild(t);
      li.appendChild(document.createTextNode(' '));
      li.appendChild(n);
      ol.appendChild(li);
      var o = document.createElement('option');
      o.value = p[0];
      dl.appendChild(o);
    });
  }
  function renderSources(last) {
    var tb = document.querySelector('#sources tbody');
    if (!tb) return;
    tb.textContent = '';
    Object.keys(last || {}).forEach(function (name) {
      var tr = document.createElement('tr');
      var a = document.createElement('td');
      a.textContent = name;
      var b = document.createElement('td');
      b.dataset.unix = last[name];
      b.textContent = utc(last[name]);
      tr.appendChild(a);
      tr.appendChild(b);
      tb.appendChild(tr);
    });
    markAgo();
  }
  function markAgo() {
    var now = Date.now() / 1000;
    document.querySelectorAll('#sources td[data-unix]').forEach(function (td) {
      var s = Math.max(0, Math.round(now - Number(td.dataset.unix)));
      var ago = s < 120 ? s + ' s ago' : s < 7200 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
      td.textContent = utc(Number(td.dataset.unix)) + ' (' + ago + ')';
    });
  }
  function renderErrors(errors) {
    var sec = document.getElementById('errors');
    var ul = sec.querySelector('ul');
    ul.textContent = '';
    errors.slice(0, 20).forEach(function (e) {
      var li = document.createElement('li');
      var c = document.createElement('code');
      c.textContent = e.origin;
      li.appendChild(c);
      li.appendChild(document.createTextNode(' byte ' + e.offset + ': ' + e.kind + ': ' + e.detail));
      ul.appendChild(li);
    });
    sec.querySelector('.more-items').textContent = errors.length > 20 ? '\u2026 and ' + (errors.length - 20) + ' more' : '';
    sec.hidden = errors.length === 0;
  }
  function renderGroups(groups, notes, policies) {
    var old = {};
    rows().forEach(function (t) { old[key(t)] = t; });
    var keep = [];
    groups.slice(0, data.max_rows).forEach(function (g) {
      var v = groupView(g, notes, policies);
      var sig = JSON.stringify(v);
      var k = v.principal + '\u0000' + v.action;
      var t = old[k];
      if (t && t.dataset.sig === sig) {
        delete old[k];
      } else {
        var wasOpen = t && t.querySelector('details').open;
        if (t) { t.remove(); delete old[k]; }
        t = renderGroup(v);
        t.dataset.sig = sig;
        if (wasOpen) t.querySelector('details').open = true;
      }
      keep.push(t);
    });
    Object.keys(old).forEach(function (k) { old[k].remove(); });
    keep.forEach(function (t) { table.appendChild(t); });
    data.total = groups.length;
  }
  function update(r) {
    var s = r.summary;
    ['denials', 'principals', 'groups', 'records', 'errors', 'duplicates', 'out_of_scope'].forEach(function (k) { setText(k, s[k]); });
    var plural = function (n, word) { return n + ' ' + word + (n === 1 ? '' : 's'); };
    setText('inputs', plural(s.records, 'record') + ' in ' + plural(s.files, 'input') + ' (' + humanBytes(s.bytes) + ')');
    var af = Object.keys(s.auth_failures || {}).map(function (k) { return k + ' \u00d7' + s.auth_failures[k]; }).join(', ');
    setText('auth_failures', af);
    document.querySelector('[data-box="auth"]').hidden = af === '';
    var untimed = r.timeline ? r.timeline.untimed : 0;
    setText('untimed', untimed);
    document.getElementById('untimed').hidden = untimed === 0;
    drawChart(r.timeline);
    renderTop(r.groups);
    renderSources(r.last_event);
    renderErrors(r.errors || []);
    syncSelect('action', Array.from(new Set(r.groups.map(function (g) { return g.action; }))).sort());
    syncSelect('hint', Array.from(new Set(r.groups.map(function (g) { return g.hint.code; }))).sort());
    renderGroups(r.groups, r.notes || {}, r.policies || []);
    applySort();
    applyFilter();
    root.dataset.updated = String(Date.now());
  }
  var etag = null;
  function refresh() {
    var status = document.getElementById('status');
    fetch(data.report_url, { cache: 'no-cache', headers: { Accept: 'application/json' } })
      .then(function (resp) {
        if (!resp.ok) throw new Error('HTTP ' + resp.status);
        var tag = resp.headers.get('ETag');
        if (tag && tag === etag) return null;
        etag = tag;
        return resp.json();
      })
      .then(function (r) {
        if (r) update(r);
        markAgo();
        status.classList.remove('stale');
        status.textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
      })
      .catch(function (e) {
        status.classList.add('stale');
        status.textContent = 'cannot reach denytrail (' + e.message + '), retrying';
      })
      .then(function () { setTimeout(refresh, data.refresh_ms); });
  }

  // ---- Start.
  var params = new URLSearchParams(location.search);
  ['principal', 'action', 'hint', 'q'].forEach(function (k) {
    if (params.has(k)) form.elements[k].value = params.get(k);
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); applyFilter(); });
  form.addEventListener('input', applyFilter);
  form.addEventListener('change', applyFilter);
  data.total = Number(document.querySelector('[data-s="total"]').textContent);
  armCopy(table);
  drawChart(data.timeline);
  window.addEventListener('beforeprint', function () {
    table.querySelectorAll('details').forEach(function (d) { d.dataset.wasOpen = d.open ? '1' : ''; d.open = true; });
  });
  window.addEventListener('afterprint', function () {
    table.querySelectorAll('details').forEach(function (d) { d.open = d.dataset.wasOpen === '1'; });
  });
  if (data.live) {
    markAgo();
    refresh();
  } else {
    applyFilter();
  }
  root.dataset.ready = '1';
})();

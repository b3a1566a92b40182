// Review gallery: keyboard review of every video's masks, decisions kept in localStorage,
// exported as the decisions CSV + prompts JSON (CONTRACTS.md "Review decisions"), or saved
// straight to config/reviews/ when the page is served by `python -m benchmark.review serve`.
(() => {
  'use strict';
  const DATA = JSON.parse(document.getElementById('review-data').textContent);
  const videos = DATA.videos;
  const byId = new Map(videos.map((v) => [v.id, v]));
  const QC = DATA.qc_columns;
  const TRACKER = DATA.tracker;
  const STORE = DATA.storage_key;
  const REVIEWER_STORE = 'albar-review/v1/reviewer';
  const COLUMNS = ['video_id', 'decision', 'mask_sha256', 'reviewer', 'note', 'decided_at'];
  const $ = (id) => document.getElementById(id);

  // records[video_id] = {decision: approve|reject|retrack|null, mask_sha256, reviewer, note, decided_at,
  // prompts: [{frame, points: [[x, y, 1|0]], box: [x1, y1, x2, y2] | null}]}. decision null is a
  // cleared decision (or a note alone): it still carries a time, so it wins over an older file row.
  let records = {};
  let view = [];          // indices into videos, in display order
  let cursor = 0;         // position in view
  let detail = null;      // {frame, playing, compare, mode: 'point'|'box', polarity: 1|0, drag}
  let pending = null;     // action waiting for the reviewer's name
  let server = null;      // {file} when the page is served and the server owns our decisions file
  let saveTimer = null;

  // ---------------------------------------------------------------- state and persistence
  function fileRecords(rows, prompts) {
    const out = {};
    for (const [vid, row] of Object.entries(rows)) {
      out[vid] = {...row, prompts: (prompts[vid] || []).map((p) => ({...p}))};
    }
    return out;
  }

  function signature(rec) {
    return JSON.stringify([rec.decision || null, rec.decided_at, rec.note || '', rec.reviewer || '',
                           rec.mask_sha256 || '', sortedPrompts(rec.prompts || [])]);
  }

  function mergeRecords(incoming) {
    // the latest decided_at wins, as in `python -m benchmark.review merge`; a note on a video this
    // page never saw decided yields to a decision from the file (the note stays); returns the ids
    // whose record changed
    const changed = [];
    for (const [vid, rec] of Object.entries(incoming)) {
      if (!byId.has(vid)) continue;
      const cur = records[vid];
      const noteOnly = cur && !cur.decision && !cur.cleared && rec.decision;
      if (!cur || noteOnly || Date.parse(rec.decided_at) >= Date.parse(cur.decided_at)) {
        const next = noteOnly && Date.parse(rec.decided_at) < Date.parse(cur.decided_at)
          ? {...rec, note: cur.note || rec.note} : rec;
        if (!cur || signature(cur) !== signature(next)) changed.push(vid);
        records[vid] = next;
      }
    }
    return changed;
  }

  function readLocal() {
    try {
      return JSON.parse(localStorage.getItem(STORE) || '{}').records || {};
    } catch (err) {
      showStatus('could not read saved decisions from this browser: ' + err, true);
      return {};
    }
  }

  function keepLocal() {
    try {
      localStorage.setItem(STORE, JSON.stringify({records}));
    } catch (err) {
      showStatus('could not keep decisions in this browser: ' + err + ' — export now', true);
    }
  }

  function persist() {
    keepLocal();
    if (server) scheduleSave();
  }

  function now() { return new Date().toISOString(); }

  function status(v) {
    const rec = records[v.id];
    if (!rec || !rec.decision) return 'undecided';
    if (rec.mask_sha256 !== v.sha) return 'stale';
    return rec.decision;
  }

  function reviewer() { return $('reviewer').value.trim(); }

  function decide(decision) {
    const v = current();
    if (!v) return;
    if (!reviewer()) { askReviewer(() => decide(decision)); return; }
    // prompts stay with the video whatever the decision: they are tracker input, and the approved
    // masks of a retracked video can only be rebuilt from the same prompts
    const rec = records[v.id] || {note: '', prompts: []};
    records[v.id] = {...rec, decision, mask_sha256: v.sha, reviewer: reviewer(), decided_at: now()};
    persist();
    updateCard(cursor);
    updateProgress();
    if (decision === 'retrack') {
      openDetail();
      detail.playing = false;
      renderDetail();
    } else {
      move(1);
    }
  }

  function clearDecision() {
    const v = current();
    if (!v || !records[v.id]) return;
    // `cleared` tells the server this decision was taken back (a note alone says nothing)
    records[v.id] = {...records[v.id], decision: null, cleared: true, decided_at: now()};
    persist();
    updateCard(cursor);
    updateProgress();
    if (detail) renderDetail();
  }

  function setNote(text) {
    const v = current();
    const rec = records[v.id] || {decision: null, mask_sha256: v.sha, reviewer: reviewer(), prompts: []};
    records[v.id] = {...rec, note: text, reviewer: reviewer() || rec.reviewer, decided_at: now()};
    persist();
    updateCard(cursor);
    if (detail) renderDetail();
  }

  // ---------------------------------------------------------------- export and server
  function csvCell(value) {
    const text = value == null ? '' : String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function decidedRecords() {
    return Object.keys(records).sort().filter((vid) => records[vid].decision).map((vid) => [vid, records[vid]]);
  }

  function allPrompts() {
    // every video's prompts, decided or not: they are the tracker input its current masks came from
    const out = {};
    for (const vid of Object.keys(records).sort()) {
      const list = records[vid].prompts;
      if (list && list.length) out[vid] = sortedPrompts(list);
    }
    return out;
  }

  function exportFiles() {
    const rows = decidedRecords();
    const lines = [COLUMNS.join(',')];
    for (const [vid, rec] of rows) {
      lines.push([vid, rec.decision, rec.mask_sha256, rec.reviewer, rec.note || '', rec.decided_at].map(csvCell).join(','));
    }
    return {csv: lines.join('\n') + '\n', prompts: JSON.stringify(allPrompts(), null, 1) + '\n', count: rows.length};
  }

  function download(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], {type}));
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function exportDecisions() {
    if (!reviewer()) { askReviewer(exportDecisions); return; }
    const files = exportFiles();
    const stem = `review-${DATA.dataset}-${TRACKER}-${reviewer().replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
    download(stem + '.csv', files.csv, 'text/csv');
    download(stem + '.prompts.json', files.prompts, 'application/json');
    showStatus(`exported ${files.count} decisions as ${stem}.csv (+ .prompts.json); merge with ` +
               '`python -m benchmark.review merge`');
  }

  function payload() {
    const rows = decidedRecords().map(([vid, rec]) => ({
      video_id: vid, decision: rec.decision, mask_sha256: rec.mask_sha256, reviewer: rec.reviewer,
      note: rec.note || '', decided_at: rec.decided_at}));
    const cleared = Object.keys(records).sort()
      .filter((vid) => !records[vid].decision && records[vid].cleared && records[vid].decided_at)
      .map((vid) => ({video_id: vid, decided_at: records[vid].decided_at}));
    return {dataset: DATA.dataset, tracker: TRACKER, rows, prompts: allPrompts(), cleared};
  }

  function serverRecords(answer) {
    // the server's merged state (GET or a save's answer) as records: file rows and cleared videos
    const rows = Object.fromEntries(answer.rows.map((row) => [row.video_id, row]));
    const out = fileRecords(rows, answer.prompts);
    for (const entry of answer.cleared || []) {
      out[entry.video_id] = {decision: null, cleared: true, decided_at: entry.decided_at, note: '',
                             reviewer: '', mask_sha256: '', prompts: (answer.prompts[entry.video_id] || [])};
    }
    return out;
  }

  function showMerged(changed) {
    // other tabs' and reviewers' decisions, as the server merged them, appear on their cards
    if (!changed.length) return;
    const ids = new Set(changed);
    view.forEach((i, pos) => { if (ids.has(videos[i].id)) updateCard(pos); });
    updateProgress();
    if (detail && ids.has(current().id)) renderDetail();
  }

  function scheduleSave() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveToServer, 300);
  }

  async function saveToServer() {
    try {
      const response = await fetch('/api/decisions', {
        method: 'PUT',
        headers: {'Content-Type': 'application/json', 'X-Albar-Review': '1'},
        body: JSON.stringify(payload()),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
      // the answer is the file after a per-video merge with every other tab's saves
      const changed = mergeRecords(serverRecords(answer));
      keepLocal();
      showMerged(changed);
      showStatus(`saved; ${answer.rows.length} decisions in ${answer.file} at ${new Date().toLocaleTimeString()}` +
                 (changed.length ? ` (${changed.length} from other tabs or reviewers)` : ''));
      window.reviewSavedRows = answer.rows.length;  // for scripted checks: rows in the file after this save
      window.reviewSaves = (window.reviewSaves || 0) + 1;  // for scripted checks: saves answered
    } catch (err) {
      showStatus('not saved to the server: ' + err.message + ' (kept in this browser; export to be safe)', true);
    }
  }

  async function connectServer() {
    if (!location.protocol.startsWith('http')) return;
    try {
      const response = await fetch('/api/decisions', {headers: {'X-Albar-Review': '1'}});
      if (!response.ok) return;
      const answer = await response.json();
      if (answer.dataset !== DATA.dataset || answer.tracker !== TRACKER) {
        showStatus(`server saves ${answer.dataset}/${answer.tracker}, not this gallery: export instead`, true);
        return;
      }
      server = {file: answer.file};
      document.body.dataset.server = '1';
      mergeRecords(serverRecords(answer));
      persist();
      renderGrid();
      showStatus('saving to ' + answer.file);
    } catch (err) {
      showStatus('no review server (' + err.message + '): decisions stay in this browser; export them', true);
    }
  }

  function showStatus(text, error = false) {
    const el = $('save-status');
    el.textContent = text;
    el.classList.toggle('error', error);
  }

  // ---------------------------------------------------------------- filtering and sorting
  function qcValue(v, column, source = TRACKER) {
    const values = v.qc[source];
    return values ? values[QC.indexOf(column)] : null;
  }

  function applyView(keepId) {
    const flag = $('filter-flag').value;
    const cls = $('filter-class').value;
    const dec = $('filter-decision').value;
    const key = $('sort').value;
    const reversed = $('sort-dir').dataset.reversed === '1';
    const indices = [];
    videos.forEach((v, i) => {
      if (flag === '__flagged' && !v.flags.length) return;
      if (flag === '__none' && v.flags.length) return;
      if (flag && !flag.startsWith('__') && !v.flags.includes(flag)) return;
      if (cls !== '' && String(v.label) !== cls) return;
      if (dec && status(v) !== dec) return;
      indices.push(i);
    });
    let compare;
    if (key === 'id') compare = (a, b) => (videos[a].id < videos[b].id ? -1 : 1);
    else if (key === 'class') compare = (a, b) => videos[a].label - videos[b].label || (videos[a].id < videos[b].id ? -1 : 1);
    else if (key === 'flags') compare = (a, b) => videos[b].flags.length - videos[a].flags.length || (videos[a].id < videos[b].id ? -1 : 1);
    else {
      const sign = DATA.worst[key] === 'desc' ? -1 : 1;
      compare = (a, b) => {
        const x = qcValue(videos[a], key);
        const y = qcValue(videos[b], key);
        if (x === null && y === null) return videos[a].id < videos[b].id ? -1 : 1;
        if (x === null) return 1;  // missing values last, in either direction
        if (y === null) return -1;
        return sign * (x - y) || (videos[a].id < videos[b].id ? -1 : 1);
      };
    }
    indices.sort(compare);
    if (reversed) indices.reverse();
    view = indices;
    const target = keepId ? view.findIndex((i) => videos[i].id === keepId) : -1;
    cursor = target >= 0 ? target : 0;
    renderGrid();
  }

  // ---------------------------------------------------------------- grid
  function spriteUrl(v, source) {
    return `previews/${source}/${encodeURIComponent(v.id)}.webp?v=${v.v[source]}`;
  }

  function fmt(x) {
    if (x === null || x === undefined) return '–';
    if (Number.isInteger(x) || Math.abs(x) >= 10) return x.toFixed(0);
    return x.toFixed(2);
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
  }

  function cardInner(v) {
    const st = status(v);
    const key = $('sort').value;
    const shown = QC.includes(key) ? [key] : [];
    for (const c of ['iou_gt_mean', 'leak_gt', 'mean_score']) if (!shown.includes(c) && qcValue(v, c) !== null) shown.push(c);
    const qc = shown.slice(0, 3).map((c) => `${c.replace('_mean', '').replace('_gt', '')} ${fmt(qcValue(v, c))}`).join(' · ');
    const rec = records[v.id];
    const note = rec && rec.note ? ' ✎' : '';
    const n = v.frames.length;
    const thumb = TRACKER in v.v
      ? `<div class="thumb" data-src="${spriteUrl(v, TRACKER)}" style="width:${v.pw}px;height:${v.ph}px;--n:${n};--w:${v.pw}px;--dur:${(n / DATA.fps).toFixed(2)}s"></div>`
      : `<div class="thumb" style="width:${v.pw}px;height:${v.ph}px">no ${escapeHtml(TRACKER)} masks</div>`;
    return `${thumb}<div class="vid">${escapeHtml(v.id)}</div><div class="cls">${escapeHtml(v.cls)}` +
      ` <span class="badge ${st}">${st}</span>${note}</div><div class="qcline">${qc}</div>` +
      `<div>${v.flags.map((f) => `<span class="flag">${escapeHtml(f)}</span>`).join('')}</div>`;
  }

  const observer = 'IntersectionObserver' in window ? new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const el = entry.target;
      el.style.backgroundImage = `url("${el.dataset.src}")`;
      el.classList.add('play');
      observer.unobserve(el);
    }
  }, {rootMargin: '300px'}) : null;

  function renderGrid() {
    const grid = $('grid');
    if (observer) observer.disconnect();
    grid.innerHTML = view.map((i, pos) => {
      const v = videos[i];
      return `<div class="card ${status(v)}${pos === cursor ? ' current' : ''}" data-pos="${pos}">${cardInner(v)}</div>`;
    }).join('');
    for (const thumb of grid.querySelectorAll('.thumb[data-src]')) {
      if (observer) observer.observe(thumb);
      else { thumb.style.backgroundImage = `url("${thumb.dataset.src}")`; thumb.classList.add('play'); }
    }
    $('shown').textContent = `${view.length} of ${videos.length} shown`;
    updateProgress();
    focusCard(false);
  }

  function cardAt(pos) { return $('grid').children[pos]; }

  function updateCard(pos) {
    const el = cardAt(pos);
    if (!el) return;
    const v = videos[view[pos]];
    el.className = `card ${status(v)}${pos === cursor ? ' current' : ''}`;
    el.innerHTML = cardInner(v);
    const thumb = el.querySelector('.thumb[data-src]');
    if (thumb) { thumb.style.backgroundImage = `url("${thumb.dataset.src}")`; thumb.classList.add('play'); }
  }

  function current() { return view.length ? videos[view[cursor]] : null; }

  function focusCard(scroll = true) {
    const old = $('grid').querySelector('.card.current');
    if (old) old.classList.remove('current');
    const el = cardAt(cursor);
    if (!el) return;
    el.classList.add('current');
    if (scroll) el.scrollIntoView({block: 'nearest'});
    document.body.dataset.current = videos[view[cursor]].id;
  }

  function move(step) {
    if (!view.length) return;
    cursor = Math.max(0, Math.min(view.length - 1, cursor + step));
    focusCard();
    if (detail) { detail.frame = 0; renderDetail(); }
  }

  function updateProgress() {
    const counts = {approve: 0, reject: 0, retrack: 0, stale: 0, undecided: 0};
    const perClass = new Map(DATA.classes.map(([label, name]) => [label, {name, done: 0, total: 0}]));
    for (const v of videos) {
      const st = status(v);
      counts[st] += 1;
      const c = perClass.get(v.label);
      c.total += 1;
      if (st === 'approve' || st === 'reject' || st === 'retrack') c.done += 1;
    }
    const done = counts.approve + counts.reject + counts.retrack;
    const pct = videos.length ? Math.floor((100 * done) / videos.length) : 100;
    $('progress').textContent = `${done} / ${videos.length} reviewed (${pct}%) · approve ${counts.approve}` +
      ` · reject ${counts.reject} · retrack ${counts.retrack} · stale ${counts.stale}`;
    $('progress').dataset.done = String(done);
    $('class-progress').innerHTML = [...perClass.values()].map((c) =>
      `<span data-class="${escapeHtml(c.name)}">${escapeHtml(c.name)} ${c.done}/${c.total}</span>`).join('');
  }

  // ---------------------------------------------------------------- detail view and prompts
  const images = new Map();
  function sprite(v, source, onload) {
    const url = spriteUrl(v, source);
    let img = images.get(url);
    if (!img) {
      img = new Image();
      img.src = url;
      images.set(url, img);
    }
    if (!img.complete) img.addEventListener('load', onload, {once: true});
    return img;
  }

  function scaleFor(v) { return Math.max(1, Math.min(5, 400 / Math.max(v.pw, v.ph))); }

  function openDetail() {
    if (!current()) return;
    if (!detail) {
      const v = current();
      const others = DATA.sources.filter((s) => s !== TRACKER && s in v.v);
      detail = {frame: 0, playing: true, compare: others[0] || null, mode: 'point', polarity: 1, drag: null};
    }
    $('detail').hidden = false;
    renderDetail();
  }

  function closeDetail() {
    detail = null;
    $('detail').hidden = true;
  }

  function promptsOf(v) {
    const rec = records[v.id];
    return (rec && rec.prompts) || [];
  }

  function sortedPrompts(list) {
    return [...list].sort((a, b) => a.frame - b.frame).map((p) => ({frame: p.frame, points: p.points, box: p.box}));
  }

  function drawFrame(canvas, v, source, withPrompts) {
    const s = scaleFor(v);
    canvas.width = Math.round(v.pw * s);
    canvas.height = Math.round(v.ph * s);
    const ctx = canvas.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = '#333';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!(source in v.v)) {
      ctx.fillStyle = '#ccc';
      ctx.fillText(`no ${source} masks`, 8, 16);
      return;
    }
    const img = sprite(v, source, () => renderDetail());
    if (img.complete && img.naturalWidth) {
      ctx.drawImage(img, detail.frame * v.pw, 0, v.pw, v.ph, 0, 0, canvas.width, canvas.height);
    }
    if (!withPrompts) return;
    const frame = v.frames[detail.frame];
    const toCanvas = (x, y) => [(x * v.pw * s) / v.W, (y * v.ph * s) / v.H];
    const entry = promptsOf(v).find((p) => p.frame === frame);
    const boxes = entry && entry.box ? [entry.box] : [];
    if (detail.drag) boxes.push(detail.drag.box);
    for (const box of boxes) {
      const [x1, y1] = toCanvas(box[0], box[1]);
      const [x2, y2] = toCanvas(box[2], box[3]);
      ctx.setLineDash([5, 3]);
      ctx.strokeStyle = '#4fc3f7';
      ctx.lineWidth = 2;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.setLineDash([]);
    }
    for (const [x, y, label] of entry ? entry.points : []) {
      const [cx, cy] = toCanvas(x, y);
      ctx.beginPath();
      ctx.arc(cx, cy, 5, 0, 2 * Math.PI);
      ctx.fillStyle = label ? '#00e676' : '#ff1744';
      ctx.fill();
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
  }

  function renderDetail() {
    const v = current();
    if (!detail || !v) return;
    const st = status(v);
    const rec = records[v.id];
    $('d-id').textContent = v.id;
    $('d-cls').textContent = `${v.cls} (label ${v.label}) · ${v.W}×${v.H}, ${v.T} frames`;
    $('d-status').className = 'badge ' + st;
    $('d-status').textContent = st === 'stale' ? `stale (was ${rec.decision} on other masks)` : st;
    $('d-flags').innerHTML = v.flags.map((f) => `<span class="flag">${escapeHtml(f)}</span>`).join('');
    $('d-main-source').textContent = `${TRACKER} (reviewed)`;
    drawFrame($('d-canvas'), v, TRACKER, true);
    const others = DATA.sources.filter((s) => s !== TRACKER);
    const select = $('d-compare');
    select.innerHTML = others.map((s) => `<option value="${s}"${s === detail.compare ? ' selected' : ''}>${s}${s in v.v ? '' : ' (none)'}</option>`).join('');
    $('d-compare-figure').hidden = !others.length;
    if (detail.compare) drawFrame($('d-compare-canvas'), v, detail.compare, false);
    const frame = v.frames[detail.frame];
    $('d-frame').textContent = `preview frame ${detail.frame + 1}/${v.frames.length} = video frame ${frame}` +
      (detail.playing ? ' · playing (space pauses)' : ' · paused');
    $('d-mode').textContent = detail.mode === 'box'
      ? 'box mode: drag on the frame to redraw the prompt box (b: back to points)'
      : `click adds a ${detail.polarity ? 'foreground (+)' : 'background (−)'} point · x switches · b draws a box`;
    const list = promptsOf(v);
    $('d-prompts').textContent = list.length
      ? 'retrack prompts: ' + list.map((p) => `frame ${p.frame}: ${p.points.filter((q) => q[2]).length}+ ` +
          `${p.points.filter((q) => !q[2]).length}−${p.box ? ' box' : ''}`).join('; ')
      : (st === 'retrack' ? 'retrack without extra prompts: click on the frame to add some' : '');
    $('d-note').textContent = rec && rec.note ? 'note: ' + rec.note : '';
    const header = `<tr><th>QC</th>${DATA.sources.map((s) => `<th>${escapeHtml(s)}</th>`).join('')}</tr>`;
    $('d-qc').innerHTML = header + QC.map((c) => `<tr><td>${c}</td>${DATA.sources.map((s) =>
      `<td>${fmt(qcValue(v, c, s))}</td>`).join('')}</tr>`).join('');
    document.body.dataset.detailFrame = String(frame);
  }

  function stepFrame(step) {
    const v = current();
    detail.playing = false;
    detail.frame = (detail.frame + step + v.frames.length) % v.frames.length;
    renderDetail();
  }

  setInterval(() => {
    if (!detail || !detail.playing || document.hidden) return;
    const v = current();
    if (!v) return;
    detail.frame = (detail.frame + 1) % v.frames.length;
    renderDetail();
  }, 1000 / DATA.fps);

  function editPrompt(change) {
    // changing the prompts means retrack on the current masks; earlier prompts are kept
    const v = current();
    if (!reviewer()) { askReviewer(() => editPrompt(change)); return; }
    const rec = {note: '', prompts: [], ...(records[v.id] || {}), decision: 'retrack', mask_sha256: v.sha};
    const frame = v.frames[detail.frame];
    const list = (rec.prompts || []).map((p) => ({frame: p.frame, points: p.points.map((q) => [...q]), box: p.box}));
    let entry = list.find((p) => p.frame === frame);
    if (!entry) { entry = {frame, points: [], box: null}; list.push(entry); }
    change(entry);
    const kept = list.filter((p) => p.points.length || p.box);
    records[v.id] = {...rec, reviewer: reviewer(), decided_at: now(), prompts: sortedPrompts(kept)};
    persist();
    updateCard(cursor);
    updateProgress();
    renderDetail();
  }

  function videoPoint(event) {
    const v = current();
    const canvas = $('d-canvas');
    const rect = canvas.getBoundingClientRect();
    const px = ((event.clientX - rect.left) / rect.width) * v.W;
    const py = ((event.clientY - rect.top) / rect.height) * v.H;
    const clamp = (x, hi) => Math.round(Math.max(0, Math.min(hi, x)) * 10) / 10;
    return [clamp(px, v.W), clamp(py, v.H)];
  }

  $('d-canvas').addEventListener('mousedown', (event) => {
    if (!detail) return;
    detail.playing = false;
    const [x, y] = videoPoint(event);
    if (detail.mode === 'box') {
      detail.drag = {x, y, box: [x, y, x, y]};
      return;
    }
    const label = event.shiftKey ? 0 : detail.polarity;
    editPrompt((entry) => entry.points.push([x, y, label]));
  });
  $('d-canvas').addEventListener('mousemove', (event) => {
    if (!detail || !detail.drag) return;
    const [x, y] = videoPoint(event);
    const d = detail.drag;
    d.box = [Math.min(d.x, x), Math.min(d.y, y), Math.max(d.x, x), Math.max(d.y, y)];
    renderDetail();
  });
  window.addEventListener('mouseup', (event) => {
    if (!detail || !detail.drag) return;
    const [x, y] = videoPoint(event);
    const d = detail.drag;
    detail.drag = null;
    const box = [Math.min(d.x, x), Math.min(d.y, y), Math.max(d.x, x), Math.max(d.y, y)];
    if (box[2] - box[0] < 1 || box[3] - box[1] < 1) { renderDetail(); return; }
    editPrompt((entry) => { entry.box = box; });
  });

  function removeLastPrompt() {
    const v = current();
    const frame = v.frames[detail.frame];
    const entry = promptsOf(v).find((p) => p.frame === frame);
    if (!entry) return;
    editPrompt((e) => { if (e.points.length) e.points.pop(); else e.box = null; });
  }

  // ---------------------------------------------------------------- dialogs
  let dialogDone = null;
  function openDialog(label, value, done) {
    $('dialog-label').textContent = label;
    $('dialog-input').value = value;
    $('dialog').hidden = false;
    dialogDone = done;
    $('dialog-input').focus();
  }
  function closeDialog(save) {
    const done = dialogDone;
    dialogDone = null;
    $('dialog-input').blur();  // else the next keys still go to the hidden field
    $('dialog').hidden = true;
    if (save && done) done($('dialog-input').value);
  }
  function askReviewer(action) {
    pending = action;
    openDialog('Your name (recorded with each decision):', '', (name) => {
      if (!name.trim()) return;
      $('reviewer').value = name.trim();
      localStorage.setItem(REVIEWER_STORE, name.trim());
      const next = pending;
      pending = null;
      if (next) next();
    });
  }
  $('dialog-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter') { event.preventDefault(); closeDialog(true); }
    if (event.key === 'Escape') { event.preventDefault(); closeDialog(false); }
    event.stopPropagation();
  });

  // ---------------------------------------------------------------- keyboard
  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA')) {
      if (event.key === 'Escape') target.blur();
      return;
    }
    const inDetail = Boolean(detail);
    const key = event.key;
    const handled = () => event.preventDefault();
    if (!$('help').hidden && key !== '?') { $('help').hidden = true; handled(); return; }
    switch (key) {
      case 'j': case 'ArrowDown': move(1); break;
      case 'k': case 'ArrowUp': move(-1); break;
      case 'ArrowRight': if (inDetail) stepFrame(1); else move(1); break;
      case 'ArrowLeft': if (inDetail) stepFrame(-1); else move(-1); break;
      case '.': if (inDetail) stepFrame(1); break;
      case ',': if (inDetail) stepFrame(-1); break;
      case 'Home': cursor = 0; move(0); break;
      case 'End': cursor = view.length - 1; move(0); break;
      case 'Enter': case 'o': openDetail(); break;
      case 'Escape': closeDetail(); break;
      case 'a': decide('approve'); break;
      case 'r': decide('reject'); break;
      case 't': decide('retrack'); break;
      case 'u': clearDecision(); break;
      case 'n': {
        const v = current();
        if (v) openDialog(`Note for ${v.id}:`, (records[v.id] && records[v.id].note) || '', setNote);
        break;
      }
      case ' ': if (inDetail) { detail.playing = !detail.playing; renderDetail(); } break;
      case 'x': if (inDetail) { detail.polarity = 1 - detail.polarity; detail.mode = 'point'; renderDetail(); } break;
      case 'b': if (inDetail) { detail.mode = detail.mode === 'box' ? 'point' : 'box'; detail.playing = false; renderDetail(); } break;
      case 'Backspace': case 'Delete': if (inDetail) removeLastPrompt(); break;
      case 'c': if (inDetail) {
        const others = DATA.sources.filter((s) => s !== TRACKER);
        if (others.length) { detail.compare = others[(others.indexOf(detail.compare) + 1) % others.length]; renderDetail(); }
        break;
      }
      case '/': $('jump').focus(); break;
      case 'e': exportDecisions(); break;
      case '?': $('help').hidden = !$('help').hidden; break;
      default: return;
    }
    handled();
  }
  document.addEventListener('keydown', onKey);

  // ---------------------------------------------------------------- controls
  function setupControls() {
    $('title').textContent = `${DATA.dataset} · ${TRACKER}`;
    const sortOptions = [['flags', 'number of flags'], ...QC.map((c) => [c, c]), ['id', 'video id'], ['class', 'class']];
    $('sort').innerHTML = sortOptions.map(([value, text]) => `<option value="${value}">${text}</option>`).join('');
    $('filter-flag').innerHTML = '<option value="">any</option><option value="__flagged">flagged</option>' +
      '<option value="__none">no flags</option>' +
      DATA.flags.map((f) => `<option value="${escapeHtml(f)}">${escapeHtml(f)}</option>`).join('');
    $('filter-class').innerHTML = '<option value="">all</option>' +
      DATA.classes.map(([label, name]) => `<option value="${label}">${escapeHtml(name)}</option>`).join('');
    for (const id of ['sort', 'filter-flag', 'filter-class', 'filter-decision']) {
      $(id).addEventListener('change', () => { applyView(current() && current().id); $(id).blur(); });
    }
    $('sort-dir').addEventListener('click', () => {
      const reversed = $('sort-dir').dataset.reversed === '1' ? '0' : '1';
      $('sort-dir').dataset.reversed = reversed;
      $('sort-dir').textContent = reversed === '1' ? 'best first' : 'worst first';
      applyView(current() && current().id);
    });
    $('jump').addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      const wanted = $('jump').value.trim();
      let pos = view.findIndex((i) => videos[i].id === wanted);
      if (pos < 0) pos = view.findIndex((i) => videos[i].id.startsWith(wanted));
      if (pos < 0 && byId.has(wanted)) {
        // the id is hidden by a filter: clear the filters so it can be shown
        for (const id of ['filter-flag', 'filter-class', 'filter-decision']) $(id).value = '';
        applyView(wanted);
        pos = cursor;
      }
      if (pos < 0) { showStatus(`no video id ${wanted}`, true); return; }
      cursor = pos;
      focusCard();
      if (detail) renderDetail();
      $('jump').blur();
    });
    $('reviewer').value = localStorage.getItem(REVIEWER_STORE) || '';
    $('reviewer').addEventListener('change', () => localStorage.setItem(REVIEWER_STORE, reviewer()));
    $('export').addEventListener('click', exportDecisions);
    $('help-button').addEventListener('click', () => { $('help').hidden = !$('help').hidden; });
    $('d-close').addEventListener('click', closeDetail);
    $('d-compare').addEventListener('change', () => { detail.compare = $('d-compare').value; $('d-compare').blur(); renderDetail(); });
    $('grid').addEventListener('click', (event) => {
      const card = event.target.closest('.card');
      if (!card) return;
      cursor = Number(card.dataset.pos);
      focusCard(false);
      openDetail();
    });
    const problems = Object.entries(DATA.problems || {});
    if (problems.length) {
      $('problems').hidden = false;
      $('problems').textContent = `${problems.length} video(s) could not be previewed: ` +
        problems.slice(0, 5).map(([vid, p]) => `${vid} (${Object.values(p)[0]})`).join('; ');
    }
  }

  records = fileRecords(DATA.decisions, DATA.prompts);
  mergeRecords(readLocal());
  setupControls();
  applyView(null);
  window.review = {records: () => records, exportFiles, status: (id) => status(byId.get(id))};
  window.reviewReady = performance.now();
  document.body.dataset.ready = '1';
  connectServer();
})();

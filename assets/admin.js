// authportal console script: the pages under /admin are rendered by the server; this
// script makes their changes through the JSON API (/api/admin/*) with fetch, and shows
// results and errors next to the control that caused them. It finds its work by ids and
// data attributes (the CSP forbids inline script and handlers) and puts text into the
// page only through textContent, never as markup.
(function () {
  'use strict';

  var page = document.body.getAttribute('data-page');
  if (page === 'admin-user') initUser();
  if (page === 'admin-sessions') initSessions();
  if (page === 'admin-setting') initSetting();
  if (page === 'admin-clients') initClients();
  if (page === 'admin-client') initClient();
  if (page === 'admin-branding') initBranding();
  if (page === 'admin-backups') initBackups();
  if (page === 'admin-webhooks') initWebhooks();
  if (page === 'admin-ldap') initLdap();

  // --- helpers ---

  function $(id) { return document.getElementById(id); }

  // Resolves to {ok, status, json}; a network failure resolves too, as status 0.
  function api(method, url, body) {
    var opts = {
      method: method,
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    };
    if (body instanceof Blob) {
      // An upload: the file itself is the body.
      opts.headers['Content-Type'] = body.type || 'application/octet-stream';
      opts.body = body;
    } else if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      if (r.status === 204) return { ok: true, status: 204, json: {} };
      return r.text().then(function (text) {
        var json = {};
        try { json = text ? JSON.parse(text) : {}; } catch (e) { json = { error: 'unexpected answer (' + r.status + ')' }; }
        return { ok: r.ok, status: r.status, json: json };
      });
    }, function () {
      return { ok: false, status: 0, json: { error: 'the portal could not be reached; try again' } };
    });
  }

  function errorText(res) {
    var msg = (res.json && res.json.error) || ('request failed (' + res.status + ')');
    if (res.status === 401) msg = 'your session ended; sign in again';
    return capitalize(msg);
  }

  function say(id, text, kind) {
    var el = $(id);
    if (!el) return;
    el.textContent = text || '';
    el.className = 'status' + (kind ? ' ' + kind : '');
  }

  function capitalize(s) { return s ? s.charAt(0).toUpperCase() + s.slice(1) : s; }

  function busy(button, on) { if (button) button.disabled = !!on; }

  // Times in APP_TIMEZONE, like the server-rendered ones ("2026-11-23 16:05 CET").
  function when(ts) {
    if (!ts && ts !== 0) return '';
    var date = new Date(ts * 1000);
    var tz = document.body.getAttribute('data-tz') || 'UTC';
    try {
      var parts = new Intl.DateTimeFormat('en-CA', {
        timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short'
      }).formatToParts(date);
      var get = function (type) {
        for (var i = 0; i < parts.length; i++) if (parts[i].type === type) return parts[i].value;
        return '';
      };
      return get('year') + '-' + get('month') + '-' + get('day') + ' ' + get('hour') + ':' + get('minute') + ' ' + get('timeZoneName');
    } catch (e) {
      return date.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
    }
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function lines(id) {
    var box = $(id);
    return (box ? box.value : '').split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function checked(form, name) {
    var out = [];
    var boxes = form.querySelectorAll('input[type=checkbox][name="' + name + '"]');
    for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) out.push(boxes[i].value);
    return out;
  }

  // Runs `handler(button)` when the button is pressed. A button with data-confirm acts
  // only on a second press within a few seconds: the first relabels it and puts the
  // question in the status line `statusId` (no window.confirm: it blocks the page).
  function onPress(id, statusId, handler) {
    var b = $(id);
    if (!b) return;
    var question = b.getAttribute('data-confirm');
    var label = b.textContent;
    var timer = null;
    function reset() {
      if (timer) clearTimeout(timer);
      timer = null;
      b.textContent = label;
    }
    b.addEventListener('click', function () {
      if (question && !timer) {
        b.textContent = 'Press again to confirm';
        say(statusId, question, 'warn');
        timer = setTimeout(function () { reset(); say(statusId, ''); }, 6000);
        return;
      }
      reset();
      say(statusId, '');
      handler(b);
    });
  }

  // --- /admin/sessions ---

  function initSessions() {
    function done(rows, text) {
      for (var i = 0; i < rows.length; i++) rows[i].remove();
      say('sessions-status', text, 'ok');
      if (!document.querySelector('tr[data-session-row]')) {
        var table = $('sessions');
        if (table) table.closest('.table-wrap').hidden = true;
      }
    }
    document.addEventListener('click', function (ev) {
      var button = ev.target.closest('button[data-revoke-session], button[data-revoke-user]');
      if (!button) return;
      var sid = button.getAttribute('data-revoke-session');
      var uuid = button.getAttribute('data-revoke-user');
      if (uuid && !button.hasAttribute('data-armed')) {
        button.setAttribute('data-armed', '');
        button.textContent = 'Press again to confirm';
        say('sessions-status', button.getAttribute('data-confirm'), 'warn');
        return;
      }
      busy(button, true);
      var call = sid
        ? api('DELETE', '/api/admin/sessions/' + encodeURIComponent(sid))
        : api('POST', '/api/admin/users/' + encodeURIComponent(uuid) + '/sessions/revoke', {});
      call.then(function (res) {
        if (!res.ok && !(sid && res.status === 404)) {
          busy(button, false);
          return say('sessions-status', errorText(res), 'error');
        }
        if (sid) {
          done([button.closest('tr')], res.ok ? 'Session revoked.' : 'That session had already ended.');
        } else {
          var rows = document.querySelectorAll('tr[data-user="' + CSS.escape(uuid) + '"]');
          done(rows, 'Ended ' + res.json.ended + ' session' + (res.json.ended === 1 ? '' : 's') + '.');
        }
      });
    });
  }

  // --- /admin/users/{uuid} ---

  function initUser() {
    var box = $('user');
    if (!box) return;
    var uuid = box.getAttribute('data-uuid');
    var base = '/api/admin/users/' + encodeURIComponent(uuid);

    var groupsForm = $('groups-form');
    if (groupsForm) {
      groupsForm.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var groups = $('groups-input').value.split(/[\s,]+/).filter(Boolean);
        var button = $('groups-save');
        busy(button, true);
        api('PUT', base + '/groups', { groups: groups }).then(function (res) {
          busy(button, false);
          if (!res.ok) return say('groups-status', errorText(res), 'error');
          $('groups-input').value = res.json.groups.join(', ');
          say('groups-status', res.json.groups.length ? 'Groups saved: ' + res.json.groups.join(', ') + '.' : 'Groups saved: none assigned.', 'ok');
        });
      });
    }

    function accountAction(id, path, done) {
      onPress(id, 'user-status', function (button) {
        busy(button, true);
        api('POST', base + path, {}).then(function (res) {
          busy(button, false);
          if (!res.ok) return say('user-status', errorText(res), 'error');
          say('user-status', done, 'ok');
          setTimeout(function () { location.reload(); }, 600);
        });
      });
    }
    accountAction('user-disable', '/disable', 'Account disabled; its sessions ended.');
    accountAction('user-enable', '/enable', 'Account enabled.');
    accountAction('user-mfa-reset', '/mfa/reset', 'Two-factor reset: they will set it up again at the next sign-in.');

    var sessionButtons = document.querySelectorAll('button[data-revoke-session]');
    for (var i = 0; i < sessionButtons.length; i++) {
      sessionButtons[i].addEventListener('click', function (ev) {
        var button = ev.currentTarget;
        var sid = button.getAttribute('data-revoke-session');
        busy(button, true);
        api('DELETE', '/api/admin/sessions/' + encodeURIComponent(sid)).then(function (res) {
          if (!res.ok && res.status !== 404) {
            busy(button, false);
            return say('sessions-status', errorText(res), 'error');
          }
          var row = button.closest('tr');
          if (row) row.remove();
          say('sessions-status', res.ok ? 'Session revoked.' : 'That session had already ended.', 'ok');
          emptySessions();
        });
      });
    }

    var all = $('sessions-revoke-all');
    if (all) {
      all.addEventListener('click', function () {
        busy(all, true);
        api('POST', base + '/sessions/revoke', {}).then(function (res) {
          busy(all, false);
          if (!res.ok) return say('sessions-status', errorText(res), 'error');
          var rows = document.querySelectorAll('tr[data-session-row]');
          for (var j = 0; j < rows.length; j++) rows[j].remove();
          say('sessions-status', 'Ended ' + res.json.ended + ' session' + (res.json.ended === 1 ? '' : 's') + '.', 'ok');
          emptySessions();
        });
      });
    }

    function emptySessions() {
      if (document.querySelector('tr[data-session-row]')) return;
      var table = $('sessions');
      if (table) table.closest('.table-wrap').hidden = true;
      if (all) all.hidden = true;
    }

    var grantButtons = document.querySelectorAll('button[data-revoke-grant]');
    for (var k = 0; k < grantButtons.length; k++) {
      grantButtons[k].addEventListener('click', function (ev) {
        var button = ev.currentTarget;
        var client = button.getAttribute('data-revoke-grant');
        busy(button, true);
        api('DELETE', base + '/grants/' + encodeURIComponent(client)).then(function (res) {
          if (!res.ok) {
            busy(button, false);
            return say('grants-status', errorText(res), 'error');
          }
          var row = button.closest('tr');
          if (row) row.remove();
          say('grants-status', 'Grant revoked; the application\'s tokens for this user no longer work.', 'ok');
        });
      });
    }
  }

  // --- /admin/settings/{section} ---

  function initSetting() {
    var form = $('cfg-form');
    if (!form) return;
    var section = form.getAttribute('data-section');
    var url = '/api/admin/config/' + encodeURIComponent(section);
    var text = $('cfg-text');
    var errorBox = $('cfg-error');
    var conflict = $('cfg-conflict');
    var history = $('cfg-history');
    var canWrite = history && history.getAttribute('data-can-write') === '1';
    var serverValue = null;

    function version() { return parseInt(form.getAttribute('data-version'), 10) || 0; }

    function showError(msg) {
      errorBox.textContent = msg || '';
      errorBox.hidden = !msg;
      if (msg) text.setAttribute('aria-invalid', 'true'); else text.removeAttribute('aria-invalid');
    }

    // The page after a save or revert: the new version, its value and its history.
    function show(saved) {
      form.setAttribute('data-version', String(saved.version));
      $('cfg-version').textContent = String(saved.version);
      text.value = JSON.stringify(saved.config, null, 2);
      var savedLine = $('cfg-saved');
      if (savedLine) {
        savedLine.textContent = saved.version === 0 ? 'defaults (never saved)'
          : 'saved ' + when(saved.updated_at) + (saved.updated_by ? ' by ' + saved.updated_by : '');
      }
      loadHistory();
    }

    function loadHistory() {
      api('GET', url + '/history').then(function (res) {
        if (!res.ok || !history) return;
        var body = history.querySelector('tbody');
        body.textContent = '';
        var current = version();
        res.json.versions.forEach(function (v) { body.appendChild(historyRow(v, current)); });
        var empty = $('history-empty');
        if (empty) empty.hidden = res.json.versions.length > 0;
      });
    }

    function historyRow(v, current) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-version-row', String(v.version));
      tr.appendChild(el('td', String(v.version)));
      tr.appendChild(el('td', when(v.updated_at), 'nowrap'));
      tr.appendChild(el('td', v.updated_by || ''));
      tr.appendChild(el('td', v.reason || ''));
      var td = document.createElement('td');
      if (v.changes && v.changes.length) {
        var ul = el('ul', '', 'changes');
        v.changes.forEach(function (c) {
          var li = document.createElement('li');
          li.appendChild(el('code', c));
          ul.appendChild(li);
        });
        td.appendChild(ul);
      }
      var details = document.createElement('details');
      details.appendChild(el('summary', 'Whole value'));
      details.appendChild(el('pre', JSON.stringify(v.config, null, 2), 'config'));
      td.appendChild(details);
      tr.appendChild(td);
      if (canWrite) {
        var action = document.createElement('td');
        if (v.version === current) {
          action.appendChild(el('span', 'current', 'muted'));
        } else {
          var b = el('button', 'Revert to this', 'secondary small');
          b.type = 'button';
          b.setAttribute('data-revert', String(v.version));
          action.appendChild(b);
        }
        tr.appendChild(action);
      }
      return tr;
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (!canWrite) return;
      var config;
      try {
        config = JSON.parse(text.value);
      } catch (e) {
        showError('This is not valid JSON: ' + e.message);
        text.focus();
        return;
      }
      showError('');
      say('cfg-status', 'Saving…');
      var reason = $('cfg-reason').value.trim();
      var body = { version: version(), config: config };
      if (reason) body.reason = reason;
      var button = $('cfg-save');
      busy(button, true);
      api('PUT', url, body).then(function (res) {
        busy(button, false);
        if (res.ok) {
          conflict.hidden = true;
          $('cfg-reason').value = '';
          show(res.json);
          say('cfg-status', 'Saved as version ' + res.json.version + '.', 'ok');
        } else if (res.status === 409) {
          say('cfg-status', 'Not saved: this section changed meanwhile (now version ' + res.json.current_version + ').', 'error');
          showConflict(config);
        } else if (res.status === 400) {
          say('cfg-status', 'Not saved: the server refused this value.', 'error');
          // The API names the section and field ("mfa: invalid type ..."): shown as is.
          showError((res.json && res.json.error) || errorText(res));
          text.focus();
        } else {
          say('cfg-status', errorText(res), 'error');
        }
      });
    });

    // Side by side: what this person wrote and what is on the server now.
    function showConflict(mine) {
      api('GET', url).then(function (res) {
        if (!res.ok) return say('cfg-status', errorText(res), 'error');
        serverValue = res.json;
        $('cfg-mine').textContent = JSON.stringify(mine, null, 2);
        $('cfg-theirs').textContent = JSON.stringify(res.json.config, null, 2);
        $('cfg-theirs-version').textContent = String(res.json.version);
        conflict.hidden = false;
        conflict.scrollIntoView({ block: 'nearest' });
      });
    }

    var take = $('cfg-take-server');
    if (take) {
      take.addEventListener('click', function () {
        if (!serverValue) return;
        show(serverValue);
        conflict.hidden = true;
        say('cfg-status', 'Loaded version ' + serverValue.version + ' from the server; apply your change again and save.');
        text.focus();
      });
    }
    var keep = $('cfg-keep-mine');
    if (keep) {
      keep.addEventListener('click', function () {
        if (!serverValue) return;
        // Saving now names the server's version, so it goes in on top of it.
        form.setAttribute('data-version', String(serverValue.version));
        $('cfg-version').textContent = String(serverValue.version);
        conflict.hidden = true;
        say('cfg-status', 'Press Save to store your edit over version ' + serverValue.version + '.');
        $('cfg-save').focus();
      });
    }

    if (history) {
      history.addEventListener('click', function (ev) {
        var b = ev.target.closest('button[data-revert]');
        if (!b) return;
        var to = parseInt(b.getAttribute('data-revert'), 10);
        busy(b, true);
        say('cfg-status', 'Reverting to version ' + to + '…');
        api('POST', url + '/revert', { version: version(), to: to }).then(function (res) {
          busy(b, false);
          if (res.ok) {
            conflict.hidden = true;
            showError('');
            show(res.json);
            say('cfg-status', 'Reverted: version ' + res.json.version + ' has the value of version ' + to + '.', 'ok');
          } else if (res.status === 409) {
            say('cfg-status', 'Not reverted: this section changed meanwhile (now version ' + res.json.current_version + '). Reload the page and try again.', 'error');
          } else {
            say('cfg-status', errorText(res), 'error');
          }
        });
      });
    }
  }

  // --- OAuth clients ---

  // The JSON body for POST/PUT /api/admin/oauth/clients from the client form.
  function clientSpec(form, editing) {
    var spec = {
      name: $('c-name').value.trim(),
      redirect_uris: lines('c-redirects'),
      post_logout_redirect_uris: lines('c-logout'),
      public: editing ? form.getAttribute('data-public') === '1' : $('c-public').checked,
      trusted: $('c-trusted').checked,
      scopes: checked(form, 'scope')
    };
    if (editing) spec.grant_types = checked(form, 'grant_type');
    return spec;
  }

  // Shows a secret once, with a copy button. `secret` is null for a public client.
  function showSecret(title, clientId, secret) {
    var panel = $('secret-panel');
    $('secret-title').textContent = title;
    $('secret-client-id').textContent = clientId;
    $('secret-value').textContent = secret || '';
    $('secret-label').hidden = !secret;
    $('secret-value').parentNode.hidden = !secret;
    $('secret-warning').hidden = !secret;
    $('secret-copy').hidden = !secret;
    $('secret-link').href = '/admin/clients/' + encodeURIComponent(clientId);
    say('secret-status', secret ? '' : 'A public client has no secret.');
    panel.hidden = false;
    panel.focus();
  }

  function initSecretCopy() {
    var copy = $('secret-copy');
    if (!copy) return;
    copy.addEventListener('click', function () {
      var value = $('secret-value').textContent;
      var selectIt = function () {
        var range = document.createRange();
        range.selectNodeContents($('secret-value'));
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(value).then(function () {
          say('secret-status', 'Copied to the clipboard.', 'ok');
        }, function () {
          selectIt();
          say('secret-status', 'Could not copy; the secret is selected: copy it with Ctrl+C.', 'error');
        });
      } else {
        selectIt();
        say('secret-status', 'This page cannot use the clipboard (not https); the secret is selected: copy it with Ctrl+C.', 'warn');
      }
    });
  }

  function initClients() {
    initSecretCopy();
    var form = $('client-create');
    if (!form) return;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var spec = clientSpec(form, false);
      var button = $('client-create-submit');
      busy(button, true);
      say('client-status', 'Creating…');
      api('POST', '/api/admin/oauth/clients', spec).then(function (res) {
        busy(button, false);
        if (!res.ok) return say('client-status', errorText(res), 'error');
        say('client-status', 'Created ' + res.json.name + '.', 'ok');
        addRow(res.json);
        form.reset();
        showSecret('Client created: ' + res.json.name, res.json.client_id, res.json.client_secret || null);
      });
    });

    function addRow(c) {
      var empty = $('clients-empty');
      if (empty) empty.remove();
      var tr = document.createElement('tr');
      var name = document.createElement('td');
      var a = el('a', c.name);
      a.href = '/admin/clients/' + encodeURIComponent(c.client_id);
      name.appendChild(a);
      tr.appendChild(name);
      var id = document.createElement('td');
      id.appendChild(el('code', c.client_id));
      tr.appendChild(id);
      tr.appendChild(el('td', (c.public ? 'public' : 'confidential') + (c.trusted ? ' · trusted' : '')));
      var uris = el('td', null, 'uris');
      c.redirect_uris.forEach(function (u) { uris.appendChild(el('span', u)); uris.appendChild(document.createElement('br')); });
      tr.appendChild(uris);
      tr.appendChild(el('td', c.scopes.join(' ')));
      $('clients-body').appendChild(tr);
    }
  }

  function initClient() {
    initSecretCopy();
    var form = $('client-edit');
    if (!form) return;
    var id = form.getAttribute('data-client-id');
    var url = '/api/admin/oauth/clients/' + encodeURIComponent(id);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var button = $('client-save');
      busy(button, true);
      api('PUT', url, clientSpec(form, true)).then(function (res) {
        busy(button, false);
        if (!res.ok) return say('client-status', errorText(res), 'error');
        say('client-status', 'Saved.', 'ok');
        var h1 = document.querySelector('h1');
        if (h1) h1.textContent = res.json.name;
      });
    });
    onPress('client-rotate', 'danger-status', function (button) {
      busy(button, true);
      api('POST', url + '/rotate-secret', {}).then(function (res) {
        busy(button, false);
        if (!res.ok) return say('danger-status', errorText(res), 'error');
        say('danger-status', 'New secret made; the old one no longer works.', 'ok');
        showSecret('New client secret', res.json.client_id, res.json.client_secret);
      });
    });
    onPress('client-delete', 'danger-status', function (button) {
      busy(button, true);
      api('DELETE', url).then(function (res) {
        if (!res.ok) {
          busy(button, false);
          return say('danger-status', errorText(res), 'error');
        }
        say('danger-status', 'Deleted.', 'ok');
        location.assign('/admin/clients');
      });
    });
  }

  // --- /admin/branding ---

  function initBranding() {
    var form = $('branding-form');
    if (!form) return;
    var url = '/api/admin/config/branding';
    var links = $('br-links');
    var template = $('br-link-template');
    var errorBox = $('br-error');

    function showError(msg) {
      if (!errorBox) return;
      errorBox.textContent = msg || '';
      errorBox.hidden = !msg;
    }

    function wireRow(row) {
      var remove = row.querySelector('[data-remove-link]');
      if (remove) remove.addEventListener('click', function () { row.remove(); });
    }
    Array.prototype.forEach.call(links.querySelectorAll('.link-row'), wireRow);
    var add = $('br-add-link');
    if (add && template) {
      add.addEventListener('click', function () {
        var row = template.content.firstElementChild.cloneNode(true);
        links.appendChild(row);
        wireRow(row);
        row.querySelector('[data-link=name]').focus();
      });
    }

    function text(id) {
      var v = $(id).value.trim();
      return v ? v : null;
    }

    // The form as the branding section's JSON document.
    function collect() {
      var rows = links.querySelectorAll('.link-row');
      var list = [];
      Array.prototype.forEach.call(rows, function (row) {
        var link = {};
        ['name', 'url', 'description', 'group', 'icon'].forEach(function (key) {
          var v = row.querySelector('[data-link=' + key + ']').value.trim();
          if (v) link[key] = v;
          else if (key === 'name' || key === 'url') link[key] = '';
        });
        list.push(link);
      });
      return {
        app_name: text('br-name'),
        accent_color: $('br-accent-default').checked ? null : $('br-accent').value,
        welcome_text: text('br-welcome'),
        restricted_text: text('br-restricted'),
        links: list
      };
    }

    // "branding.links[1].url: ..." -> mark that input, so the person sees where.
    function markField(message) {
      Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (e) {
        e.removeAttribute('aria-invalid');
      });
      var m = /^branding\.(\w+)(?:\[(\d+)\]\.(\w+))?/.exec(message || '');
      if (!m) return;
      var target = m[2] !== undefined
        ? (links.querySelectorAll('.link-row')[+m[2]] || form).querySelector('[data-link=' + m[3] + ']')
        : form.querySelector('[data-field=' + m[1] + ']');
      if (target) {
        target.setAttribute('aria-invalid', 'true');
        target.focus();
      }
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = { version: parseInt(form.getAttribute('data-version'), 10) || 0, config: collect() };
      var reason = $('br-reason').value.trim();
      if (reason) body.reason = reason;
      var button = $('br-save');
      busy(button, true);
      showError('');
      say('br-status', 'Saving…');
      api('PUT', url, body).then(function (res) {
        busy(button, false);
        if (res.ok) {
          form.setAttribute('data-version', String(res.json.version));
          $('br-version').textContent = String(res.json.version);
          $('br-reason').value = '';
          markField('');
          return say('br-status', 'Saved as version ' + res.json.version + '. People see it on their next page.', 'ok');
        }
        if (res.status === 409) {
          return say('br-status', 'Not saved: someone changed the branding meanwhile (now version ' +
            res.json.current_version + '). Reload the page to see their change, then apply yours again.', 'error');
        }
        say('br-status', '');
        showError(errorText(res));
        markField(res.json.error);
      });
    });

    // Images: uploaded as soon as a file is chosen.
    Array.prototype.forEach.call(document.querySelectorAll('.image-slot'), function (slot) {
      var id = slot.getAttribute('data-slot');
      var src = slot.getAttribute('data-url');
      var apiUrl = '/api/admin/branding/' + id;
      var preview = slot.querySelector('img.preview');
      var none = slot.querySelector('[data-none]');
      var input = slot.querySelector('[data-upload]');
      var remove = slot.querySelector('[data-remove-image]');
      function shown(present) {
        preview.hidden = !present;
        none.hidden = present;
        if (remove) remove.hidden = !present;
        if (present) preview.src = src + '?t=' + Date.now();
      }
      if (input) {
        input.addEventListener('change', function () {
          var file = input.files[0];
          if (!file) return;
          say(id + '-status', 'Uploading…');
          api('PUT', apiUrl, file).then(function (res) {
            input.value = '';
            if (!res.ok) return say(id + '-status', errorText(res), 'error');
            shown(true);
            var size = res.json.bytes < 1024 ? res.json.bytes + ' bytes' : Math.round(res.json.bytes / 1024) + ' KiB';
            say(id + '-status', 'Uploaded (' + size + ').', 'ok');
          });
        });
      }
      if (remove) {
        remove.addEventListener('click', function () {
          api('DELETE', apiUrl).then(function (res) {
            if (!res.ok) return say(id + '-status', errorText(res), 'error');
            shown(false);
            say(id + '-status', 'Removed.', 'ok');
          });
        });
      }
    });

    var iconForm = $('icon-form');
    if (iconForm) {
      iconForm.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var name = $('icon-name').value.trim();
        var file = $('icon-file').files[0];
        if (!/^[a-z0-9-]{1,32}$/.test(name)) {
          return say('icon-status', 'An icon name is 1 to 32 of a-z, 0-9 and -.', 'error');
        }
        if (!file) return say('icon-status', 'Choose an image first.', 'error');
        say('icon-status', 'Uploading…');
        api('PUT', '/api/admin/branding/icons/' + name, file).then(function (res) {
          if (!res.ok) return say('icon-status', errorText(res), 'error');
          say('icon-status', 'Icon “' + name + '” uploaded. Reload to pick it for a service.', 'ok');
          iconForm.reset();
        });
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll('[data-remove-icon]'), function (b) {
      b.addEventListener('click', function () {
        var name = b.getAttribute('data-remove-icon');
        api('DELETE', '/api/admin/branding/icons/' + name).then(function (res) {
          if (!res.ok) return say('icon-status', errorText(res), 'error');
          b.closest('li').remove();
          say('icon-status', 'Icon “' + name + '” removed.', 'ok');
        });
      });
    });
  }

  // --- /admin/backups ---

  function initBackups() {
    var body = $('backups-body');
    if (!body) return;
    var canWrite = body.getAttribute('data-can-write') === '1';
    var working = false;

    function size(bytes) {
      if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + ' MiB';
      if (bytes >= 1024) return (bytes / 1024).toFixed(1) + ' KiB';
      return bytes + ' bytes';
    }

    // While a backup, upload or restore runs, every button that starts one waits.
    function setWorking(on) {
      working = on;
      var buttons = document.querySelectorAll('#backup-now, #backup-upload-submit, #restore-confirm, button[data-restore], button[data-delete]');
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = on;
      document.body.setAttribute('aria-busy', on ? 'true' : 'false');
    }

    function button(text, cls, attr, value) {
      var b = el('button', text, cls);
      b.type = 'button';
      b.setAttribute(attr, value);
      return b;
    }

    // The same row the server renders (views/backups.rs file_row).
    function row(b) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-backup', b.name);
      var name = document.createElement('td');
      name.appendChild(el('code', b.name));
      tr.appendChild(name);
      tr.appendChild(el('td', b.kind));
      tr.appendChild(el('td', when(b.created_at), 'nowrap'));
      tr.appendChild(el('td', b.created_by || ''));
      tr.appendChild(el('td', size(b.size), 'nowrap'));
      var cell = document.createElement('td');
      var actions = el('div', null, 'row-actions');
      if (canWrite) {
        var a = el('a', 'Download', 'button secondary small');
        a.href = '/api/admin/backups/' + encodeURIComponent(b.name);
        a.setAttribute('download', b.name);
        actions.appendChild(a);
        actions.appendChild(button('Restore…', 'secondary small', 'data-restore', b.name));
        actions.appendChild(button('Delete', 'danger small', 'data-delete', b.name));
      }
      cell.appendChild(actions);
      tr.appendChild(cell);
      return tr;
    }

    function addRow(b) {
      var empty = $('backups-empty');
      if (empty) empty.remove();
      body.insertBefore(row(b), body.firstChild);
    }

    function removeRow(name) {
      var rows = body.querySelectorAll('tr[data-backup]');
      for (var i = 0; i < rows.length; i++) {
        if (rows[i].getAttribute('data-backup') === name) rows[i].remove();
      }
    }

    var now = $('backup-now');
    if (now) {
      now.addEventListener('click', function () {
        if (working) return;
        setWorking(true);
        say('backup-status', 'Backing up… (the portal keeps answering meanwhile)');
        api('POST', '/api/admin/backups', {}).then(function (res) {
          setWorking(false);
          if (!res.ok) return say('backup-status', 'Backup failed: ' + errorText(res), 'error');
          addRow(res.json);
          (res.json.pruned || []).forEach(removeRow);
          var pruned = (res.json.pruned || []).length;
          say('backup-status', 'Backup ' + res.json.name + ' written (' + size(res.json.size) + ').' +
            (pruned ? ' ' + pruned + ' older backup' + (pruned === 1 ? ' was' : 's were') + ' removed (retention).' : ''), 'ok');
        });
      });
    }

    // Delete asks for a second press on the same button, like data-confirm elsewhere.
    var armed = null;
    body.addEventListener('click', function (ev) {
      var del = ev.target.closest('button[data-delete]');
      var res = ev.target.closest('button[data-restore]');
      if (del && !working) {
        var name = del.getAttribute('data-delete');
        if (armed !== del) {
          if (armed) armed.textContent = 'Delete';
          armed = del;
          del.textContent = 'Press again to delete';
          say('backup-status', 'Delete ' + name + '? It cannot be brought back.', 'warn');
          return;
        }
        armed = null;
        del.disabled = true;
        api('DELETE', '/api/admin/backups/' + encodeURIComponent(name)).then(function (r) {
          if (!r.ok && r.status !== 404) {
            del.disabled = false;
            del.textContent = 'Delete';
            return say('backup-status', errorText(r), 'error');
          }
          removeRow(name);
          say('backup-status', 'Deleted ' + name + '.', 'ok');
        });
      }
      if (res && !working) openRestore(res.getAttribute('data-restore'));
    });

    var panel = $('restore-panel');
    var restoring = null;
    function openRestore(name) {
      if (!panel) return;
      restoring = name;
      $('restore-name').textContent = name;
      panel.hidden = false;
      say('restore-status', '');
      panel.scrollIntoView({ block: 'nearest' });
      $('restore-confirm').focus();
    }
    var cancel = $('restore-cancel');
    if (cancel) cancel.addEventListener('click', function () { panel.hidden = true; restoring = null; });
    var confirmButton = $('restore-confirm');
    if (confirmButton) {
      confirmButton.addEventListener('click', function () {
        if (!restoring || working) return;
        var picked = document.querySelector('input[name="restore-scope"]:checked');
        var scope = picked ? picked.value : 'settings';
        var name = restoring;
        setWorking(true);
        say('restore-status', 'Restoring ' + (scope === 'all' ? 'everything' : 'the settings') + ' from ' + name + '… (a safety backup is taken first)');
        api('POST', '/api/admin/backups/' + encodeURIComponent(name) + '/restore', { scope: scope }).then(function (r) {
          setWorking(false);
          if (!r.ok) return say('restore-status', 'Nothing was restored: ' + errorText(r), 'error');
          panel.hidden = true;
          restoring = null;
          var text = 'Restored ' + (r.json.scope === 'all' ? 'everything' : 'the settings') + ' from ' + name +
            (r.json.migrated_from ? ' (migrated from schema version ' + r.json.migrated_from + ')' : '') +
            '. The data from before is in ' + r.json.safety_backup + '.';
          if (r.json.signed_out) {
            say('restore-status', text + ' Your session was not in the backup: sign in again.', 'ok');
            setTimeout(function () { location.assign('/?rd=' + encodeURIComponent('/admin/backups')); }, 4000);
          } else {
            say('restore-status', text + ' Reloading…', 'ok');
            setTimeout(function () { location.reload(); }, 2500);
          }
        });
      });
    }

    var uploadForm = $('backup-upload');
    if (uploadForm) {
      uploadForm.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var input = $('backup-file');
        var file = input.files && input.files[0];
        if (!file || working) return;
        if (file.size > 64 * 1024 * 1024) return say('upload-status', 'That file is larger than 64 MiB.', 'error');
        setWorking(true);
        say('upload-status', 'Uploading and checking ' + file.name + '…');
        fetch('/api/admin/backups/upload', {
          method: 'PUT',
          credentials: 'same-origin',
          headers: { Accept: 'application/json', 'Content-Type': 'application/octet-stream' },
          body: file
        }).then(function (r) {
          return r.text().then(function (t) {
            var json = {};
            try { json = t ? JSON.parse(t) : {}; } catch (e) { json = { error: 'unexpected answer (' + r.status + ')' }; }
            return { ok: r.ok, status: r.status, json: json };
          });
        }, function () {
          return { ok: false, status: 0, json: { error: 'the portal could not be reached; try again' } };
        }).then(function (r) {
          setWorking(false);
          if (!r.ok) return say('upload-status', 'Not stored: ' + errorText(r), 'error');
          addRow(r.json);
          uploadForm.reset();
          say('upload-status', 'Checked and stored as ' + r.json.name + '; restore it from the list.', 'ok');
        });
      });
    }

    var schedule = $('schedule-form');
    if (schedule) {
      var kind = $('sch-kind');
      // Only the fields the chosen schedule uses are offered.
      var showFields = function () {
        var k = kind.value;
        var show = function (id, on) {
          var input = $(id);
          input.hidden = !on;
          var label = schedule.querySelector('label[for="' + id + '"]');
          if (label) label.hidden = !on;
        };
        show('sch-minute', k === 'hourly');
        show('sch-weekday', k === 'weekly');
        show('sch-time', k === 'daily' || k === 'weekly');
      };
      kind.addEventListener('change', showFields);
      showFields();
      schedule.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var config = {
          schedule: kind.value,
          minute: parseInt($('sch-minute').value, 10) || 0,
          time: $('sch-time').value,
          weekday: $('sch-weekday').value,
          keep: parseInt($('sch-keep').value, 10) || 0
        };
        var version = parseInt(schedule.getAttribute('data-version'), 10) || 0;
        var saveButton = $('schedule-save');
        busy(saveButton, true);
        say('schedule-status', 'Saving…');
        api('PUT', '/api/admin/config/backups', { version: version, config: config, reason: 'backup schedule' }).then(function (r) {
          busy(saveButton, false);
          if (r.status === 409) {
            return say('schedule-status', 'Not saved: someone changed the schedule meanwhile (now version ' + r.json.current_version + '). Reload the page and apply your change again.', 'error');
          }
          if (!r.ok) return say('schedule-status', 'Not saved: ' + errorText(r), 'error');
          schedule.setAttribute('data-version', String(r.json.version));
          api('GET', '/api/admin/backups').then(function (l) {
            var next = l.ok && l.json.status && l.json.status.next_run;
            var c = r.json.config;
            var text = c.schedule === 'hourly' ? 'every hour at minute ' + c.minute
              : c.schedule === 'daily' ? 'every day at ' + c.time
              : c.schedule === 'weekly' ? 'every ' + c.weekday + ' at ' + c.time : 'off';
            var tz = document.body.getAttribute('data-tz') || 'UTC';
            $('state-schedule').textContent = text + ' (' + tz + '), keeping ' + (c.keep === 0 ? 'all backups' : 'the newest ' + c.keep);
            $('state-next').textContent = next ? when(next) : 'none (off)';
            say('schedule-status', 'Saved. ' + (next ? 'Next backup: ' + when(next) + '.' : 'Scheduled backups are off.'), 'ok');
          });
        });
      });
    }
  }

  // --- /admin/ldap ---

  function initLdap() {
    document.addEventListener('click', function (ev) {
      var del = ev.target.closest('button[data-ldap-delete]');
      if (!del) return;
      if (del.getAttribute('data-armed') !== '1') {
        del.setAttribute('data-armed', '1');
        del.textContent = 'Press again to delete';
        return;
      }
      busy(del, true);
      api('DELETE', '/api/admin/ldap/services/' + del.getAttribute('data-ldap-delete')).then(function (res) {
        if (!res.ok) { busy(del, false); say('ldap-status', errorText(res), 'bad'); return; }
        window.location.reload();
      });
    });
    var create = $('ldap-create');
    if (!create) return;
    create.addEventListener('click', function () {
      busy(create, true);
      api('POST', '/api/admin/ldap/services', { name: $('ldap-name').value.trim() }).then(function (res) {
        busy(create, false);
        if (!res.ok) { say('ldap-status', errorText(res), 'bad'); return; }
        $('ldap-made-dn').textContent = res.json.dn;
        $('ldap-made-password').textContent = res.json.password;
        $('ldap-made').hidden = false;
        $('ldap-made').focus();
        $('ldap-name').value = '';
        say('ldap-status', 'Created. Reload the page to see it in the list (the password will not show again).', 'ok');
      });
    });
  }

  // --- /admin/webhooks ---

  function initWebhooks() {
    document.addEventListener('click', function (ev) {
      var test = ev.target.closest('button[data-webhook-test]');
      var del = ev.target.closest('button[data-webhook-delete]');
      var change = ev.target.closest('button[data-webhook-edit]');
      if (change) editRule(change.getAttribute('data-webhook-edit'));
      if (test) {
        busy(test, true);
        api('POST', '/api/admin/webhooks/' + test.getAttribute('data-webhook-test') + '/test', {}).then(function (res) {
          busy(test, false);
          if (!res.ok) { say('webhooks-status', errorText(res), 'bad'); return; }
          say('webhooks-status', 'Test delivery queued; reload to see its outcome.', 'ok');
        });
      }
      if (del) {
        if (del.getAttribute('data-armed') !== '1') {
          del.setAttribute('data-armed', '1');
          del.textContent = 'Press again to delete';
          return;
        }
        busy(del, true);
        api('DELETE', '/api/admin/webhooks/' + del.getAttribute('data-webhook-delete')).then(function (res) {
          if (!res.ok) { busy(del, false); say('webhooks-status', errorText(res), 'bad'); return; }
          window.location.reload();
        });
      }
    });
    var create = $('webhook-create');
    if (!create) return;
    var text = $('webhook-json');
    var blank = text.value;
    var cancel = $('webhook-cancel');
    var editing = null;

    // The form edits an existing rule: its JSON as the API shows it (header values
    // null = keep; the secret is never shown, and a rule without one keeps it).
    function editRule(id) {
      api('GET', '/api/admin/webhooks/' + encodeURIComponent(id)).then(function (res) {
        if (!res.ok) { say('webhooks-status', errorText(res), 'bad'); return; }
        var rule = res.json;
        ['id', 'secret_set', 'url_path_hidden', 'created_at', 'updated_at', 'unknown_events'].forEach(function (k) { delete rule[k]; });
        editing = id;
        text.value = JSON.stringify(rule, null, 2);
        $('webhook-form-title').textContent = 'Edit webhook “' + rule.name + '”';
        create.textContent = 'Save';
        cancel.hidden = false;
        $('webhook-form').scrollIntoView();
        text.focus();
      });
    }
    cancel.addEventListener('click', function () {
      editing = null;
      text.value = blank;
      $('webhook-form-title').textContent = 'New webhook';
      create.textContent = 'Create';
      cancel.hidden = true;
    });

    create.addEventListener('click', function () {
      var spec;
      try { spec = JSON.parse(text.value); } catch (e) {
        say('webhooks-status', 'The rule is not valid JSON: ' + e.message, 'bad');
        return;
      }
      busy(create, true);
      var request = editing === null
        ? api('POST', '/api/admin/webhooks', spec)
        : api('PUT', '/api/admin/webhooks/' + encodeURIComponent(editing), spec);
      request.then(function (res) {
        busy(create, false);
        if (!res.ok) { say('webhooks-status', errorText(res), 'bad'); return; }
        window.location.reload();
      });
    });
  }
})();

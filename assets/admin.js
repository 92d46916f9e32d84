// authportal console script: the pages under /admin are rendered by the server; this
// script makes their changes through the JSON API (/api/admin/*) with fetch, and shows
// results and errors next to the control that caused them. It finds its work by ids and
// data attributes (the CSP forbids inline script and handlers) and puts text into the
// page only through textContent, never as markup.
(function () {
  'use strict';

  var page = document.body.getAttribute('data-page');
  if (page === 'admin-user') initUser();
  if (page === 'admin-setting') initSetting();
  if (page === 'admin-clients') initClients();
  if (page === 'admin-client') initClient();
  if (page === 'admin-webhooks') initWebhooks();

  // --- helpers ---

  function $(id) { return document.getElementById(id); }

  // Resolves to {ok, status, json}; a network failure resolves too, as status 0.
  function api(method, url, body) {
    var opts = {
      method: method,
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    };
    if (body !== undefined) {
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

  // --- /admin/webhooks ---

  function initWebhooks() {
    document.addEventListener('click', function (ev) {
      var test = ev.target.closest('button[data-webhook-test]');
      var del = ev.target.closest('button[data-webhook-delete]');
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
    create.addEventListener('click', function () {
      var spec;
      try { spec = JSON.parse($('webhook-json').value); } catch (e) {
        say('webhooks-status', 'The rule is not valid JSON: ' + e.message, 'bad');
        return;
      }
      busy(create, true);
      api('POST', '/api/admin/webhooks', spec).then(function (res) {
        busy(create, false);
        if (!res.ok) { say('webhooks-status', errorText(res), 'bad'); return; }
        window.location.reload();
      });
    });
  }
})();

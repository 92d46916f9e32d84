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
  if (page === 'admin-access') initAccess();
  if (page === 'admin-roles') initRoles();
  if (page === 'admin-setting') initMfaPick();
  if (page === 'admin-setting') initSectionForm();
  if (page === 'admin-media') initMedia();
  if (page === 'admin-media-plex') initMediaPlex();
  initCopyButtons();
  if (page === 'admin-ldap') initLdap();
  initTableCards();

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
      fillSectionForm(saved.config);
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
      allowed_groups: lines('c-groups'),
      public: editing ? form.getAttribute('data-public') === '1' : $('c-public').checked,
      trusted: $('c-trusted').checked,
      scopes: checked(form, 'scope'),
      token_endpoint_auth_methods: checked(form, 'auth_method')
    };
    if (!spec.public) spec.require_pkce = $('c-pkce').checked;
    if (editing) spec.grant_types = checked(form, 'grant_type');
    else spec.device = $('c-device').checked;
    var preset = $('c-preset');
    if (!editing && preset && preset.value) spec.preset = preset.value;
    return spec;
  }

  // Sets the checkboxes named `name` in `form` to exactly the values in `values`.
  function setChecked(form, name, values) {
    var boxes = form.querySelectorAll('input[type=checkbox][name="' + name + '"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].checked = values.indexOf(boxes[i].value) >= 0;
  }

  // A public client authenticates with none and always uses PKCE; a confidential one
  // with its secret.
  function syncKind(form) {
    var pub = $('c-public');
    if (!pub || pub.disabled) return;
    setChecked(form, 'auth_method', pub.checked ? ['none'] : ['client_secret_basic', 'client_secret_post']);
    if (pub.checked) $('c-pkce').checked = true;
    $('c-pkce').disabled = pub.checked;
  }

  // "Start from a preset": fills the form from the chosen option's data attributes.
  function initPresetPicker(form) {
    var picker = $('c-preset');
    var pub = $('c-public');
    if (pub) pub.addEventListener('change', function () { syncKind(form); });
    if (!picker) return;
    picker.addEventListener('change', function () {
      var o = picker.options[picker.selectedIndex];
      if (!o || !o.value) return;
      pub.checked = o.getAttribute('data-public') === '1';
      syncKind(form);
      setChecked(form, 'auth_method', o.getAttribute('data-methods').split(' '));
      $('c-pkce').checked = o.getAttribute('data-pkce') === '1';
      setChecked(form, 'scope', o.getAttribute('data-scopes').split(' '));
      $('c-redirects').value = o.getAttribute('data-redirects');
      if (!$('c-name').value.trim()) $('c-name').value = o.textContent.trim();
      say('client-status', 'Filled in for ' + o.textContent.trim() + ': put the app\'s own address in the redirect URIs.', 'ok');
    });
  }

  // Copies the text of the element a [data-copy] button names.
  function initCopyButtons() {
    document.addEventListener('click', function (ev) {
      var b = ev.target.closest ? ev.target.closest('button[data-copy]') : null;
      if (!b) return;
      var target = $(b.getAttribute('data-copy'));
      if (!target) return;
      var done = function (label) {
        b.textContent = label;
        setTimeout(function () { b.textContent = 'Copy'; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(target.textContent).then(function () { done('Copied'); }, function () { done('Select and copy'); });
      } else {
        var range = document.createRange();
        range.selectNodeContents(target);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        done('Selected');
      }
    });
  }

  // After a create: the portal's addresses and (with a preset) the app's settings, each
  // with a copy button.
  function showSetup(setup) {
    var box = $('secret-setup');
    var list = $('secret-setup-list');
    if (!box || !list || !setup) return;
    list.textContent = '';
    var n = 0;
    function row(label, value, codeLabel) {
      var id = 'setup-' + (n++);
      var dt = el('dt');
      dt.appendChild(codeLabel ? el('code', label) : document.createTextNode(label));
      var dd = el('dd');
      var code = el('code', value);
      code.id = id;
      var copy = el('button', 'Copy', 'secondary small');
      copy.type = 'button';
      copy.setAttribute('data-copy', id);
      dd.appendChild(code);
      dd.appendChild(document.createTextNode(' '));
      dd.appendChild(copy);
      list.appendChild(dt);
      list.appendChild(dd);
    }
    Object.keys(setup.endpoints || {}).forEach(function (k) { row(k, setup.endpoints[k], false); });
    if (setup.preset) {
      $('secret-setup-title').textContent = 'Values for ' + setup.preset.name;
      setup.preset.settings.forEach(function (kv) { row(kv[0], kv[1], true); });
    } else {
      $('secret-setup-title').textContent = 'Values for the app';
    }
    box.hidden = false;
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
    initCopyButtons();
    var form = $('client-create');
    if (!form) return;
    initPresetPicker(form);
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
        syncKind(form);
        showSecret('Client created: ' + res.json.name, res.json.client_id, res.json.client_secret || null);
        showSetup(res.json.setup);
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
      tr.appendChild(el('td', (c.public ? 'public' : 'confidential') + (c.trusted ? ' · trusted' : '') + (c.device ? ' · devices' : '')));
      var uris = el('td', null, 'uris');
      c.redirect_uris.forEach(function (u) { uris.appendChild(el('span', u)); uris.appendChild(document.createElement('br')); });
      tr.appendChild(uris);
      tr.appendChild(el('td', c.scopes.join(' ')));
      $('clients-body').appendChild(tr);
    }
  }

  function initClient() {
    initSecretCopy();
    initCopyButtons();
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

  // The rules' buttons (edit, send test, delete) and the form. The form is the one way
  // to write a rule: presets fill it, "Advanced" shows it as JSON, the server renders
  // the preview (POST /api/admin/webhooks/preview) so it is what a delivery would send.
  function initWebhooks() {
    var form = $('webhook-fields');
    document.addEventListener('click', function (ev) {
      var test = ev.target.closest('button[data-webhook-test]');
      var del = ev.target.closest('button[data-webhook-delete]');
      var change = ev.target.closest('button[data-webhook-edit]');
      if (change && form) editRule(change.getAttribute('data-webhook-edit'));
      if (test) sendTest(test, test.getAttribute('data-webhook-test'));
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
    if (!form) return;

    var presets = JSON.parse($('webhook-form').getAttribute('data-presets') || '[]');
    var create = $('webhook-create');
    var cancel = $('webhook-cancel');
    var editing = null;
    var previewTimer = null;

    function split(id) {
      return $(id).value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    }

    function headerRow(name, value, hint, stored) {
      var row = el('div', null, 'header-row');
      var n = el('input');
      n.type = 'text'; n.value = name || ''; n.placeholder = 'Name'; n.setAttribute('aria-label', 'Header name');
      n.setAttribute('data-header-name', '');
      var v = el('input');
      v.type = 'text'; v.value = value || ''; v.setAttribute('aria-label', 'Header value');
      v.placeholder = stored ? '(stored; leave empty to keep)' : (hint || 'Value');
      v.setAttribute('data-header-value', '');
      v.autocomplete = 'off'; v.spellcheck = false;
      var rm = el('button', 'Remove', 'secondary small');
      rm.type = 'button';
      rm.addEventListener('click', function () { row.remove(); schedulePreview(); });
      row.appendChild(n); row.appendChild(v); row.appendChild(rm);
      $('wh-header-rows').appendChild(row);
      return row;
    }

    // The rule the form describes, as the API takes it (the secret only when typed).
    function collect() {
      var headers = {};
      var rows = $('wh-header-rows').querySelectorAll('.header-row');
      for (var i = 0; i < rows.length; i++) {
        var name = rows[i].querySelector('[data-header-name]').value.trim();
        var value = rows[i].querySelector('[data-header-value]').value;
        if (!name && !value) continue;
        headers[name] = value === '' ? null : value;
      }
      var rule = {
        name: $('wh-name').value,
        enabled: $('wh-enabled').checked,
        events: checked(form, 'events').concat(split('wh-patterns')),
        users: split('wh-users'),
        groups: split('wh-groups'),
        method: $('wh-method').value,
        url: $('wh-url').value.trim(),
        headers: headers,
        body_format: $('wh-format').value,
        body_template: $('wh-body').value,
        timeout_secs: parseInt($('wh-timeout').value, 10) || 0,
        max_attempts: parseInt($('wh-attempts').value, 10) || 0
      };
      if ($('wh-secret').value) rule.secret = $('wh-secret').value;
      else if ($('wh-secret-remove').checked) rule.secret = '';
      return rule;
    }

    // Puts a rule (from the API, a preset or the JSON) into the form.
    function fill(rule, hints) {
      hints = hints || {};
      $('wh-name').value = rule.name || '';
      $('wh-enabled').checked = !!rule.enabled;
      var events = rule.events || [];
      var boxes = form.querySelectorAll('input[name="events"]');
      var known = {};
      for (var i = 0; i < boxes.length; i++) {
        known[boxes[i].value] = true;
        boxes[i].checked = events.indexOf(boxes[i].value) >= 0;
      }
      $('wh-patterns').value = events.filter(function (e) { return !known[e]; }).join(', ');
      $('wh-users').value = (rule.users || []).join(', ');
      $('wh-groups').value = (rule.groups || []).join(', ');
      $('wh-method').value = rule.method || 'POST';
      $('wh-format').value = rule.body_format || 'json';
      $('wh-timeout').value = rule.timeout_secs || 10;
      $('wh-attempts').value = rule.max_attempts || 5;
      $('wh-url').value = rule.url || '';
      $('wh-url').placeholder = hints.url || 'https://…';
      $('wh-header-rows').textContent = '';
      var headers = rule.headers || {};
      Object.keys(headers).forEach(function (name) {
        headerRow(name, headers[name] || '', (hints.headers || {})[name], hints.stored && headers[name] === null);
      });
      $('wh-body').value = rule.body_template || '';
      // Only JSON typed under "Advanced" can carry a secret: the API never shows one.
      $('wh-secret').value = typeof rule.secret === 'string' ? rule.secret : '';
      $('wh-secret-remove').checked = false;
      $('wh-secret-remove-row').hidden = !hints.secretSet;
      $('wh-secret').placeholder = hints.secretSet ? '(stored; leave empty to keep)' : '';
      schedulePreview();
    }

    function startNew() {
      editing = null;
      fill({});
      $('webhook-form-title').textContent = 'New webhook';
      create.textContent = 'Create';
      cancel.hidden = true;
      $('webhook-preset-about').hidden = true;
    }

    function usePreset(id) {
      var p = presets.filter(function (x) { return x.id === id; })[0];
      if (!p) return;
      var headers = {};
      var hints = {};
      p.headers.forEach(function (h) { headers[h.name] = ''; hints[h.name] = h.hint; });
      var name = $('wh-name').value;
      fill({
        name: name || p.label, enabled: false, events: p.events, method: p.method, url: '',
        headers: headers, body_format: p.body_format, body_template: p.body_template
      }, { url: p.url_hint, headers: hints });
      var about = $('webhook-preset-about');
      about.textContent = p.about;
      about.hidden = false;
      $('wh-url').focus();
    }

    // The form edits an existing rule as the API shows it (header values null = keep;
    // the secret is never shown, and a rule without one keeps it).
    function editRule(id) {
      api('GET', '/api/admin/webhooks/' + encodeURIComponent(id)).then(function (res) {
        if (!res.ok) { say('webhooks-status', errorText(res), 'bad'); return; }
        var rule = res.json;
        editing = id;
        fill(rule, { stored: true, secretSet: rule.secret_set });
        $('webhook-form-title').textContent = 'Edit webhook “' + rule.name + '”';
        create.textContent = 'Save';
        cancel.hidden = false;
        $('webhook-preset-about').hidden = true;
        $('webhook-form').scrollIntoView();
        $('wh-name').focus();
      });
    }

    // After a pause in typing: each preview counts against the console's write limit.
    function schedulePreview() {
      if (previewTimer) clearTimeout(previewTimer);
      previewTimer = setTimeout(preview, 800);
    }

    function preview() {
      var rule = collect();
      delete rule.secret;
      api('POST', '/api/admin/webhooks/preview', rule).then(function (res) {
        var box = $('wh-preview');
        if (!res.ok) {
          box.textContent = 'Not valid yet: ' + errorText(res);
          box.className = 'config error';
          return;
        }
        var p = res.json;
        var text = p.method + ' ' + (p.url || '(no URL yet)') + '\nX-Authportal-Event: ' + p.event;
        if (p.content_type) text += '\nContent-Type: ' + p.content_type;
        if (p.body !== null) text += '\n\n' + p.body;
        box.textContent = text;
        box.className = 'config';
      });
    }

    form.addEventListener('input', schedulePreview);
    form.addEventListener('change', schedulePreview);
    $('wh-header-add').addEventListener('click', function () {
      headerRow('', '', '', false).querySelector('input').focus();
    });
    document.querySelectorAll('button[data-preset]').forEach(function (b) {
      b.addEventListener('click', function () { usePreset(b.getAttribute('data-preset')); });
    });
    document.querySelectorAll('button[data-placeholder]').forEach(function (b) {
      b.addEventListener('click', function () {
        var body = $('wh-body');
        var text = '{' + b.getAttribute('data-placeholder') + '}';
        var at = body.selectionStart || body.value.length;
        body.value = body.value.slice(0, at) + text + body.value.slice(body.selectionEnd || at);
        body.focus();
        body.selectionStart = body.selectionEnd = at + text.length;
        schedulePreview();
      });
    });
    $('webhook-advanced').addEventListener('toggle', function () {
      if (!$('webhook-advanced').open) return;
      var rule = collect();
      delete rule.secret;
      $('webhook-json').value = JSON.stringify(rule, null, 2);
    });
    $('webhook-json-apply').addEventListener('click', function () {
      var rule;
      try { rule = JSON.parse($('webhook-json').value); } catch (e) {
        say('webhook-form-status', 'The rule is not valid JSON: ' + e.message, 'bad');
        return;
      }
      fill(rule, { stored: editing !== null });
      say('webhook-form-status', 'The form now holds the JSON.', 'ok');
    });
    cancel.addEventListener('click', startNew);

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var rule = collect();
      busy(create, true);
      var request = editing === null
        ? api('POST', '/api/admin/webhooks', rule)
        : api('PUT', '/api/admin/webhooks/' + encodeURIComponent(editing), rule);
      request.then(function (res) {
        busy(create, false);
        if (!res.ok) { say('webhook-form-status', 'Not saved: ' + errorText(res), 'error'); return; }
        window.location.reload();
      });
    });
    startNew();
  }

  // Queues a test delivery and shows its outcome (status, time taken, error) beside the
  // rule once the delivery thread has tried it, without a reload.
  function sendTest(button, id) {
    var line = document.querySelector('[data-test-result="' + id + '"]');
    function show(text, kind) {
      if (!line) return;
      line.textContent = text;
      line.className = 'status' + (kind ? ' ' + kind : '');
    }
    busy(button, true);
    show('Sending a test delivery…');
    api('POST', '/api/admin/webhooks/' + encodeURIComponent(id) + '/test', {}).then(function (res) {
      if (!res.ok) { busy(button, false); show(errorText(res), 'error'); return; }
      var delivery = res.json.delivery;
      var tries = 0;
      (function poll() {
        api('GET', '/api/admin/webhooks/' + encodeURIComponent(id) + '/deliveries?limit=20').then(function (r) {
          var d = r.ok && (r.json.deliveries || []).filter(function (x) { return x.id === delivery; })[0];
          if (d && (d.state !== 'pending' || d.attempts > 0)) {
            busy(button, false);
            return show(testOutcome(d), d.state === 'delivered' ? 'ok' : 'error');
          }
          if (++tries > 60) {
            busy(button, false);
            return show('The test delivery is still waiting to be sent; its outcome will be in the list below after a reload.', 'warn');
          }
          setTimeout(poll, 500);
        });
      })();
    });
  }

  function testOutcome(d) {
    var last = (d.attempt_log || []).reduce(function (a, b) { return !a || b.attempt > a.attempt ? b : a; }, null);
    var answer = d.response_code ? 'HTTP ' + d.response_code : (d.error || 'no answer');
    if (last) {
      answer = (last.response_code ? 'HTTP ' + last.response_code : (last.error || answer)) + ' in ' + last.duration_ms + ' ms';
    }
    var at = last ? ' (' + when(last.at) + ')' : '';
    if (d.state === 'delivered') return 'Test delivered: ' + answer + at + '.';
    if (d.state === 'failed') return 'Test delivery failed: ' + answer + at + '.';
    return 'Test delivery attempt ' + d.attempts + ' got ' + answer + at + '; it will be retried.';
  }
  // --- /admin/access: the rules as forms, saved as the "access" section ---

  // Saves a section document through the settings API (the JSON editor's way too) and
  // reports in `statusId`; `done(res)` runs on success, `refused(message)` on a 400.
  function saveSection(form, section, config, parts) {
    var body = { version: parseInt(form.getAttribute('data-version'), 10) || 0, config: config };
    var reasonBox = parts.reason ? $(parts.reason) : null;
    if (reasonBox && reasonBox.value.trim()) body.reason = reasonBox.value.trim();
    busy(parts.button, true);
    say(parts.status, 'Saving…');
    api('PUT', '/api/admin/config/' + section, body).then(function (res) {
      busy(parts.button, false);
      if (res.ok) {
        form.setAttribute('data-version', String(res.json.version));
        if (parts.version && $(parts.version)) $(parts.version).textContent = String(res.json.version);
        if (reasonBox) reasonBox.value = '';
        say(parts.status, 'Saved as version ' + res.json.version + '.', 'ok');
        if (parts.done) parts.done(res);
      } else if (res.status === 409) {
        say(parts.status, 'Not saved: someone changed this meanwhile (now version ' +
          res.json.current_version + '). Reload the page to see their change, then apply yours again.', 'error');
      } else if (res.status === 400) {
        say(parts.status, 'Not saved: ' + errorText(res), 'error');
        if (parts.refused) parts.refused(errorText(res));
      } else {
        say(parts.status, errorText(res), 'error');
      }
    });
  }

  function initAccess() {
    var form = $('access-form');
    if (!form) return;
    var list = $('access-rules');
    var template = $('access-rule-template');

    function cards() { return list.querySelectorAll('li[data-rule]'); }

    function renumber() {
      Array.prototype.forEach.call(cards(), function (card, i) {
        card.querySelector('[data-no]').textContent = String(i + 1);
      });
      var empty = $('access-empty');
      if (empty) empty.hidden = cards().length > 0;
    }

    list.addEventListener('click', function (ev) {
      var card = ev.target.closest('li[data-rule]');
      if (!card) return;
      var move = ev.target.closest('[data-move]');
      if (move) {
        if (move.getAttribute('data-move') === 'up' && card.previousElementSibling) {
          list.insertBefore(card, card.previousElementSibling);
        } else if (move.getAttribute('data-move') === 'down' && card.nextElementSibling) {
          list.insertBefore(card.nextElementSibling, card);
        }
        renumber();
        move.focus();
      } else if (ev.target.closest('[data-remove-rule]')) {
        card.remove();
        renumber();
      }
    });

    var add = $('access-add');
    if (add && template) {
      add.addEventListener('click', function () {
        var card = template.content.firstElementChild.cloneNode(true);
        list.appendChild(card);
        renumber();
        card.querySelector('[data-f=name]').focus();
      });
    }

    function value(card, f) {
      var e = card.querySelector('[data-f="' + f + '"]');
      if (!e) return '';
      return e.type === 'checkbox' ? e.checked : e.value.trim();
    }
    function listOf(text, sep) {
      return text.split(sep).map(function (s) { return s.trim(); }).filter(Boolean);
    }
    // "Name: value" lines -> {Name: value} (split at the first separator).
    function pairs(text, sep) {
      var out = {};
      listOf(text, '\n').forEach(function (line) {
        var at = line.indexOf(sep);
        if (at < 0) out[line] = '';
        else out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      });
      return out;
    }

    // One card as a rule, in the order the README documents; defaults left out.
    function rule(card) {
      var r = { name: value(card, 'name'), enabled: value(card, 'enabled') };
      var hosts = listOf(value(card, 'hosts'), '\n');
      var paths = listOf(value(card, 'paths'), '\n');
      var methods = listOf(value(card, 'methods'), /[\s,]+/).map(function (m) { return m.toUpperCase(); });
      if (hosts.length) r.hosts = hosts;
      if (paths.length) r.paths = paths;
      if (value(card, 'path_regex')) r.path_regex = value(card, 'path_regex');
      if (value(card, 'allow_encoded_slash')) r.allow_encoded_slash = true;
      if (methods.length) r.methods = methods;
      r.policy = value(card, 'policy');
      var users = listOf(value(card, 'users'), '\n');
      if (users.length) r.users = users;
      var groups = [];
      Array.prototype.forEach.call(card.querySelectorAll('input[data-group]'), function (b) {
        if (b.checked) groups.push(b.value);
      });
      listOf(value(card, 'groups_other'), ',').forEach(function (g) {
        if (groups.indexOf(g) < 0) groups.push(g);
      });
      if (groups.length) r.groups = groups;
      var networks = listOf(value(card, 'networks'), '\n');
      if (networks.length) {
        r.networks = networks;
        r.network_mode = value(card, 'network_mode');
      }
      var headers = pairs(value(card, 'headers'), ':');
      if (Object.keys(headers).length) r.headers = headers;
      if (value(card, 'inject_media_token')) r.inject_media_token = true;
      if (value(card, 'media_provider')) r.media_provider = value(card, 'media_provider');
      if (value(card, 'media_token_required')) r.media_token_required = true;
      if (value(card, 'login_cookie.url')) {
        r.login_cookie = {
          url: value(card, 'login_cookie.url'),
          form: pairs(value(card, 'login_cookie.form'), '='),
          ttl_secs: parseInt(value(card, 'login_cookie.ttl_secs'), 10) || 0
        };
      }
      var hours = parseInt(value(card, 'native_apps.trusted_ip_hours'), 10) || 0;
      if (value(card, 'native_apps.media_token') || hours) {
        r.native_apps = { media_token: !!value(card, 'native_apps.media_token'), trusted_ip_hours: hours };
      }
      return r;
    }

    function collect() {
      return {
        default_policy: form.querySelector('[data-f=default_policy]').value,
        rules: Array.prototype.map.call(cards(), rule)
      };
    }

    function clearMarks() {
      Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid]'), function (e) { e.removeAttribute('aria-invalid'); });
      Array.prototype.forEach.call(form.querySelectorAll('[data-rule-error]'), function (e) { e.hidden = true; e.textContent = ''; });
      $('access-error').hidden = true;
    }

    // "Rule 2 (sonarr): hosts: ..." -> the message on rule 2's card, its Hosts field marked.
    function markField(message) {
      var m = /^Rule (\d+) \(.*?\): ([a-z_]+(?:\.[a-z_]+)?)/.exec(message);
      var card = m ? cards()[+m[1] - 1] : null;
      if (!card) {
        $('access-error').textContent = message;
        $('access-error').hidden = false;
        return;
      }
      var box = card.querySelector('[data-rule-error]');
      box.textContent = message;
      box.hidden = false;
      var input = card.querySelector('[data-f="' + m[2] + '"]') ||
        (m[2] === 'groups' ? card.querySelector('[data-groups]') : null);
      if (input) {
        var details = input.closest('details');
        if (details) details.open = true;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      } else {
        box.scrollIntoView({ block: 'nearest' });
      }
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearMarks();
      saveSection(form, 'access', collect(), {
        button: $('access-save'), status: 'access-status', reason: 'access-reason', version: 'access-version',
        refused: markField
      });
    });

    var tester = $('access-test-form');
    if (tester) {
      tester.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var body = { url: $('test-url').value.trim(), method: $('test-method').value, ip: $('test-ip').value.trim() };
        var user = $('test-user').value.trim();
        if (user) body.user = user;
        var button = $('test-run');
        busy(button, true);
        say('test-status', 'Testing…');
        api('POST', '/api/admin/access/test', body).then(function (res) {
          busy(button, false);
          var out = $('test-result');
          if (!res.ok) { out.hidden = true; return say('test-status', errorText(res), 'error'); }
          say('test-status', '');
          $('test-decision').textContent = res.json.decision;
          $('test-rule').textContent = res.json.rule || 'none: the default policy';
          var headers = $('test-headers');
          headers.textContent = '';
          var names = Object.keys(res.json.headers || {});
          if (!names.length) headers.textContent = 'none';
          names.forEach(function (n) { headers.appendChild(el('code', n + ': ' + res.json.headers[n])); headers.appendChild(document.createElement('br')); });
          $('test-message').textContent = res.json.message || '';
          $('test-message').hidden = $('test-message-label').hidden = !res.json.message;
          out.hidden = false;
        });
      });
    }
  }

  // --- /admin/roles: groups x permissions, saved as the "roles" section ---

  function initRoles() {
    var form = $('roles-form');
    if (!form) return;
    var grid = $('roles-grid');

    // "All" ticked: the row's single permissions are covered (shown ticked, locked).
    function syncRow(row) {
      var all = row.querySelector('[data-perm="*"]');
      if (all.disabled && row.getAttribute('data-role') === 'admins') return;
      Array.prototype.forEach.call(row.querySelectorAll('input[data-perm]'), function (b) {
        if (b === all) return;
        b.disabled = all.checked;
        if (all.checked) b.checked = true;
      });
    }
    grid.addEventListener('change', function (ev) {
      if (ev.target.getAttribute('data-perm') === '*') syncRow(ev.target.closest('tr'));
    });

    var add = $('roles-add');
    if (add) {
      add.addEventListener('click', function () {
        var name = $('roles-new').value.trim();
        if (!name) return $('roles-new').focus();
        if (grid.querySelector('tr[data-role="' + CSS.escape(name) + '"]')) {
          return say('roles-status', 'There is a row for ' + name + ' already.', 'error');
        }
        var template = grid.querySelector('tbody tr:last-child');
        var row = template.cloneNode(true);
        row.setAttribute('data-role', name);
        row.querySelector('th').textContent = name;
        Array.prototype.forEach.call(row.querySelectorAll('input[data-perm]'), function (b) {
          b.checked = false;
          b.disabled = false;
          b.setAttribute('aria-label', name + ': ' + b.getAttribute('data-perm'));
        });
        grid.querySelector('tbody').appendChild(row);
        $('roles-new').value = '';
        say('roles-status', 'Added ' + name + ': tick its permissions and save.');
      });
    }

    function collect() {
      var roles = {};
      Array.prototype.forEach.call(grid.querySelectorAll('tbody tr[data-role]'), function (row) {
        var group = row.getAttribute('data-role');
        if (row.querySelector('[data-perm="*"]').checked) { roles[group] = ['*']; return; }
        var perms = [];
        Array.prototype.forEach.call(row.querySelectorAll('input[data-perm]'), function (b) {
          if (b.checked && b.getAttribute('data-perm') !== '*') perms.push(b.getAttribute('data-perm'));
        });
        if (perms.length) roles[group] = perms;
      });
      return { roles: roles };
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var box = $('roles-error');
      box.hidden = true;
      saveSection(form, 'roles', collect(), {
        button: $('roles-save'), status: 'roles-status', reason: 'roles-reason', version: 'roles-version',
        refused: function (msg) { box.textContent = msg; box.hidden = false; }
      });
    });
  }

  // --- /admin/settings/mfa: the enforced groups as checkboxes ---

  function initMfaPick() {
    var form = $('mfa-form');
    var json = $('cfg-form');
    if (!form || !json) return;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      // Saved through the JSON form's version, so the two views never overwrite each other.
      saveSection(json, 'mfa', { enforce_groups: checked(form, 'enforce') }, {
        button: $('mfa-save'), status: 'mfa-status', version: 'cfg-version',
        done: function (res) { $('cfg-text').value = JSON.stringify(res.json.config, null, 2); }
      });
    });
  }
  // --- /admin/settings/{section}: the generic form of a simple section ---

  // Each input names its place in the document in data-path ("rate_limits.signin.burst").
  function sectionInputs(form) { return form.querySelectorAll('[data-path]'); }

  // The document the form describes: the last value from the server with every field of
  // the form written over it. A number that is not one is sent as typed, so the server's
  // check names the field.
  function sectionDocument(form) {
    var doc = JSON.parse(form.getAttribute('data-config') || '{}');
    Array.prototype.forEach.call(sectionInputs(form), function (input) {
      var keys = input.getAttribute('data-path').split('.');
      var at = doc;
      for (var i = 0; i < keys.length - 1; i++) {
        if (typeof at[keys[i]] !== 'object' || at[keys[i]] === null) at[keys[i]] = {};
        at = at[keys[i]];
      }
      var raw = input.value.trim();
      var value = raw;
      if (input.getAttribute('data-kind') === 'integer') {
        if (/^-?\d+$/.test(raw)) value = parseInt(raw, 10);
      } else if (input.getAttribute('data-kind') === 'strings') {
        value = raw.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
      }
      at[keys[keys.length - 1]] = value;
    });
    return doc;
  }

  // Puts a saved document into the form (after a save here or in the JSON editor).
  function fillSectionForm(config) {
    var form = $('section-form');
    if (!form || !config) return;
    form.setAttribute('data-config', JSON.stringify(config));
    Array.prototype.forEach.call(sectionInputs(form), function (input) {
      var value = config;
      input.getAttribute('data-path').split('.').forEach(function (k) { value = value == null ? undefined : value[k]; });
      if (value === undefined) return;
      input.value = Array.isArray(value) ? value.join('\n') : String(value);
    });
    showFieldError(form, null, '');
  }

  // Shows `message` by the input with `path` (none: clears every field's error).
  function showFieldError(form, path, message) {
    Array.prototype.forEach.call(sectionInputs(form), function (input) {
      var mine = input.getAttribute('data-path') === path;
      var box = $(input.id + '-error');
      if (box) { box.textContent = mine ? message : ''; box.hidden = !mine; }
      if (mine) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
      if (mine) input.focus();
    });
  }

  // The field a refusal names: "security.rate_limits.signin.burst: 0 is not ..." names
  // rate_limits.signin.burst; null when it names no field of the form.
  function refusedField(form, section, message) {
    var prefix = section + '.';
    // errorText() capitalized the message's first letter.
    if (message.toLowerCase().indexOf(prefix) !== 0) return null;
    var named = message.slice(prefix.length).split(':')[0];
    var found = null;
    Array.prototype.forEach.call(sectionInputs(form), function (input) {
      if (input.getAttribute('data-path') === named) found = named;
    });
    return found;
  }

  function initSectionForm() {
    var form = $('section-form');
    var json = $('cfg-form');
    if (!form || !json) return;
    var section = json.getAttribute('data-section');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      showFieldError(form, null, '');
      // Saved through the JSON editor's version, so the two views never overwrite each other.
      saveSection(json, section, sectionDocument(form), {
        button: $('section-save'), status: 'section-status', version: 'cfg-version', reason: 'section-reason',
        done: function (res) {
          $('cfg-text').value = JSON.stringify(res.json.config, null, 2);
          fillSectionForm(res.json.config);
        },
        // By the field it names too (the status line has it already).
        refused: function (message) {
          var path = refusedField(form, section, message);
          // By the field, what is wrong is enough: "0 is not between 1 and 100000".
          if (path) showFieldError(form, path, capitalize(message.slice(message.indexOf(': ') + 2)));
        }
      });
    });
  }

  // --- copy buttons: data-copy names the element whose text is copied ---

  function initCopyButtons() {
    var buttons = document.querySelectorAll('button[data-copy]');
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener('click', function () {
        var el = $(button.getAttribute('data-copy'));
        if (!el) return;
        var selectIt = function () {
          var range = document.createRange();
          range.selectNodeContents(el);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(el.textContent).then(function () {
            say('copy-status', 'Copied to the clipboard.', 'ok');
          }, function () {
            selectIt();
            say('copy-status', 'Could not copy; the text is selected: copy it with Ctrl+C.', 'warn');
          });
        } else {
          selectIt();
          say('copy-status', 'This page cannot use the clipboard (not https); the text is selected: copy it with Ctrl+C.', 'warn');
        }
      });
    });
  }
  // --- tables as cards on a phone: each cell carries its column's heading ---

  // styles.css shows a table.data.cards as one card per row on a narrow screen, each
  // value after its heading (data-label). Rows the script adds later get labels too.
  // The roles grid stays a grid that scrolls in its box: a matrix reads as one.
  function initTableCards() {
    var tables = document.querySelectorAll('table.data:not(.grid)');
    Array.prototype.forEach.call(tables, function (table) {
      var heads = table.querySelectorAll('thead th');
      if (!heads.length || !table.tBodies[0]) return;
      var names = Array.prototype.map.call(heads, function (th) { return th.textContent.trim(); });
      var label = function () {
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          var col = 0;
          Array.prototype.forEach.call(row.cells, function (cell) {
            // A cell spanning the whole row ("No sessions") has no one heading.
            var name = cell.colSpan > 1 ? '' : (names[col] || '');
            if (cell.getAttribute('data-label') !== name) cell.setAttribute('data-label', name);
            col += cell.colSpan;
          });
        });
      };
      label();
      table.classList.add('cards');
      new MutationObserver(label).observe(table.tBodies[0], { childList: true, subtree: false });
    });
  }

  // --- media servers: each save is checked by the portal (the address answers) ---

  function mediaVersion() {
    return Number($('media-in-use').getAttribute('data-version')) || 0;
  }

  function initMedia() {
    var forms = document.querySelectorAll('form.media-form');
    Array.prototype.forEach.call(forms, function (form) {
      var kind = form.getAttribute('data-kind');
      var statusId = 'media-' + kind + '-status';
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var button = form.querySelector('button[type="submit"]');
        button.disabled = true;
        say(statusId, 'Checking the server…');
        var key = form.elements.api_key.value;
        api('POST', '/api/admin/media/servers', {
          kind: kind,
          url: form.elements.url.value,
          api_key: key ? key : null,
          version: mediaVersion()
        }).then(function (res) {
          button.disabled = false;
          if (!res.ok) { say(statusId, errorText(res), 'error'); return; }
          say(statusId, 'Saved.', 'ok');
          window.location.reload();
        });
      });
    });
    var stops = document.querySelectorAll('button[data-stop]');
    Array.prototype.forEach.call(stops, function (button) {
      button.addEventListener('click', function () {
        var kind = button.getAttribute('data-stop');
        button.disabled = true;
        api('DELETE', '/api/admin/media/servers/' + encodeURIComponent(kind) + '?version=' + mediaVersion()).then(function (res) {
          button.disabled = false;
          if (!res.ok) { say('media-stop-status', errorText(res), 'error'); return; }
          window.location.reload();
        });
      });
    });
    var plex = $('plex-start');
    if (plex) {
      plex.addEventListener('click', function () {
        plex.disabled = true;
        api('POST', '/api/admin/media/plex/start').then(function (res) {
          plex.disabled = false;
          if (!res.ok) { say('plex-status', errorText(res), 'error'); return; }
          window.location.assign(res.json.authUrl);
        });
      });
    }
  }

  function initMediaPlex() {
    var form = $('plex-choose');
    if (!form) return;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var chosen = form.querySelector('input[name="machine_id"]:checked');
      if (!chosen) { say('plex-choose-status', 'Choose a server.', 'error'); return; }
      api('POST', '/api/admin/media/plex', {
        machine_id: chosen.value,
        version: Number(form.getAttribute('data-version')) || 0
      }).then(function (res) {
        if (!res.ok) { say('plex-choose-status', errorText(res), 'error'); return; }
        window.location.assign('/admin/media');
      });
    });
  }

})();

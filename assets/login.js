// authportal page script. Sign-in buttons open a popup synchronously in the click (so
// popup blockers allow it) and fall back to full-page navigation when it is blocked.
// A finished sign-in in a popup tells its opener by postMessage, same origin only.
(function () {
  'use strict';

  var page = document.body.getAttribute('data-page');
  if (page === 'login') initLogin();
  if (page === 'finished') finish();
  if (page === 'mfa-enroll') initEnroll();

  function finish() {
    var el = document.getElementById('finished');
    var redirect = (el && el.getAttribute('data-redirect')) || '/home';
    var opener = window.opener;
    var sameOriginOpener = false;
    try {
      sameOriginOpener = !!opener && opener !== window && opener.location.origin === location.origin;
    } catch (e) {
      sameOriginOpener = false; // a cross-origin opener throws: never talk to it
    }
    if (sameOriginOpener) {
      opener.postMessage({ type: 'authportal:finished', redirect: redirect }, location.origin);
      window.close();
      return;
    }
    location.replace(redirect);
  }

  function initLogin() {
    var box = document.getElementById('signin');
    if (!box) return;
    var rd = box.getAttribute('data-rd') || '';
    var status = document.getElementById('signin-status');
    var popup = null;
    var timer = null;
    var done = false;

    var buttons = box.querySelectorAll('button[data-provider]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener('click', onClick);
    }

    window.addEventListener('message', function (ev) {
      if (ev.origin !== location.origin || !ev.data || ev.data.type !== 'authportal:finished') return;
      if (popup && ev.source !== popup) return;
      complete(ev.data.redirect);
    });

    function onClick(ev) {
      var provider = ev.currentTarget.getAttribute('data-provider');
      var label = ev.currentTarget.textContent.replace(/^\s*Sign in with\s*/, '').trim();
      done = false;
      stopTimer();
      if (ev.currentTarget.getAttribute('data-method') === 'quick_connect') startQuickConnect();
      else if (provider === 'plex') startPlex(label);
      else startPasswordProvider(provider, label);
    }

    function features() {
      var w = 520, h = 720;
      var left = Math.max(0, (window.screenX || 0) + (window.outerWidth - w) / 2);
      var top = Math.max(0, (window.screenY || 0) + (window.outerHeight - h) / 2);
      return 'popup=yes,width=' + w + ',height=' + h + ',left=' + left + ',top=' + top;
    }

    function startPlex(label) {
      popup = window.open('', 'authportal-signin', features());
      say('Opening ' + label + '…');
      fetch('/auth/start-web', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ provider: 'plex', rd: rd || null })
      })
        .then(function (r) {
          return r.json().then(function (j) {
            if (!r.ok) throw new Error(j.error || 'Sign-in could not start.');
            return j;
          });
        })
        .then(function (j) {
          if (!popup || popup.closed) {
            location.assign(j.authUrl); // popup blocked: the whole page goes
            return;
          }
          popup.location.href = j.authUrl;
          say('Approve the sign-in in the ' + label + ' window…');
          timer = setInterval(pollPlex, 1000);
        })
        .catch(function (e) {
          if (popup) popup.close();
          say(capitalize(e.message), true);
        });
    }

    var closedPolls = 0;
    function pollPlex() {
      if (done) return;
      if (popup && popup.closed) closedPolls++;
      fetch('/auth/poll', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.status === 'done' || j.status === 'denied') complete(j.redirect);
          else if (j.status === 'expired') fail('The sign-in expired. Try again.');
          else if (closedPolls > 3) fail('The sign-in window was closed.');
        })
        .catch(function () { /* transient: the next tick tries again */ });
    }

    // Jellyfin Quick Connect: no popup. The page shows the code to type into a signed-in
    // Jellyfin app and polls until the server says it was approved.
    function startQuickConnect() {
      popup = null;
      say('Asking Jellyfin for a code…');
      fetch('/auth/start-web', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ provider: 'jellyfin', method: 'quick_connect', rd: rd || null })
      })
        .then(function (r) {
          return r.json().then(function (j) {
            if (!r.ok) throw new Error(j.error || 'Quick Connect could not start.');
            return j;
          });
        })
        .then(function (j) {
          document.getElementById('quick-connect-value').textContent = j.code;
          document.getElementById('quick-connect-code').hidden = false;
          say('Waiting for your Jellyfin app…');
          timer = setInterval(pollQuickConnect, 2000);
        })
        .catch(function (e) { say(capitalize(e.message), true); });
    }

    function pollQuickConnect() {
      if (done) return;
      fetch('/auth/poll', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.status === 'done' || j.status === 'denied') complete(j.redirect);
          else if (j.status === 'expired') quickConnectOver('The code expired. Try again.');
          else if (j.error) quickConnectOver(capitalize(j.error) + '.');
        })
        .catch(function () { /* transient: the next tick tries again */ });
    }

    function quickConnectOver(msg) {
      document.getElementById('quick-connect-code').hidden = true;
      fail(msg);
    }

    function startPasswordProvider(provider, label) {
      var url = '/auth/forward?provider=' + encodeURIComponent(provider) + (rd ? '&rd=' + encodeURIComponent(rd) : '');
      popup = window.open(url + '&popup=1', 'authportal-signin', features());
      if (!popup) {
        location.assign(url);
        return;
      }
      say('Finish signing in in the ' + label + ' window…');
      timer = setInterval(function () {
        if (popup.closed && !done) fail('The sign-in window was closed.');
      }, 500);
    }

    function complete(redirect) {
      if (done) return;
      done = true;
      stopTimer();
      say('Signed in. One moment…');
      try { if (popup && !popup.closed) popup.close(); } catch (e) { /* ignore */ }
      location.assign(redirect || '/home');
    }

    function fail(msg) {
      stopTimer();
      say(msg, true);
    }

    function stopTimer() {
      if (timer) clearInterval(timer);
      timer = null;
    }

    function say(text, isError) {
      if (!status) return;
      status.textContent = text;
      status.className = 'status' + (isError ? ' error' : '');
    }
  }

  // Two-factor set-up and management. The QR code arrives as SVG text and is shown as
  // an image (data: URL), never inserted as markup.
  function initEnroll() {
    var box = document.getElementById('mfa');
    if (!box) return;
    var status = document.getElementById('mfa-status');
    var current = document.getElementById('mfa-current');
    var setup = document.getElementById('mfa-setup');
    var codesBox = document.getElementById('mfa-codes');
    // The "Set up" row of a first enrolment goes once the set-up is under way.
    var intro = document.getElementById('mfa-intro');

    function say(text, isError) {
      status.textContent = text ? capitalize(text) : '';
      status.className = 'status' + (isError ? ' error' : '');
    }

    function currentCode() {
      return current && current.value.trim() ? current.value.trim() : null;
    }

    function post(url, body) {
      return fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body || {})
      }).then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error(j.error || 'Request failed.');
          return j;
        });
      });
    }

    function on(id, handler) {
      var el = document.getElementById(id);
      if (el) el.addEventListener('click', handler);
    }

    on('mfa-start', function () {
      say('');
      post('/mfa/enroll/start', { code: currentCode() })
        .then(function (j) {
          document.getElementById('mfa-qr').src = 'data:image/svg+xml;base64,' + btoa(j.qr_svg);
          document.getElementById('mfa-otpauth').href = j.otpauth;
          showKey(j.secret);
          codesBox.hidden = true;
          setup.hidden = false;
          if (intro) intro.hidden = true;
          document.getElementById('mfa-code').focus();
        })
        .catch(function (e) { say(e.message, true); });
    });

    // The key in groups of four, one element each, so a line never breaks inside a
    // group; the spaces between them are the only places it may wrap.
    var key = '';
    function showKey(secret) {
      key = secret;
      var box = document.getElementById('mfa-secret');
      box.textContent = '';
      (secret.match(/.{1,4}/g) || []).forEach(function (group, i) {
        if (i) box.appendChild(document.createTextNode(' '));
        var span = document.createElement('span');
        span.className = 'group';
        span.textContent = group;
        box.appendChild(span);
      });
    }

    on('mfa-copy', function () {
      var box = document.getElementById('mfa-secret');
      function selectKey(text) {
        var range = document.createRange();
        range.selectNodeContents(box);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        say(text);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(key).then(
          function () { say('Copied the key: paste it into your authenticator app.'); },
          function () { selectKey('Could not copy; the key is selected: copy it from there.'); });
      } else {
        selectKey('This page cannot use the clipboard (not https); the key is selected: copy it from there.');
      }
    });

    document.getElementById('mfa-verify').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var code = document.getElementById('mfa-code').value.trim();
      post('/mfa/enroll/verify', { code: code })
        .then(function (j) { showCodes(j.recovery_codes, j.redirect); say('Two-factor sign-in is on.'); })
        .catch(function (e) { say(e.message, true); });
    });

    on('mfa-new-codes', function () {
      post('/mfa/recovery-codes', { code: currentCode() })
        .then(function (j) { showCodes(j.recovery_codes, '/mfa/enroll'); say('New recovery codes made; the old ones no longer work.'); })
        .catch(function (e) { say(e.message, true); });
    });

    on('mfa-disable', function () {
      if (!window.confirm('Turn off two-factor sign-in?')) return;
      post('/mfa/disable', { code: currentCode() })
        .then(function () { location.reload(); })
        .catch(function (e) { say(e.message, true); });
    });

    function showCodes(codes, redirect) {
      var list = document.getElementById('mfa-code-list');
      list.textContent = '';
      codes.forEach(function (c) {
        var li = document.createElement('li');
        li.textContent = c;
        list.appendChild(li);
      });
      var text = 'AuthPortal recovery codes (each works once)\n\n' + codes.join('\n') + '\n';
      document.getElementById('mfa-download').href = 'data:text/plain;charset=utf-8,' + encodeURIComponent(text);
      document.getElementById('mfa-continue').href = redirect || '/home';
      setup.hidden = true;
      codesBox.hidden = false;
    }
  }

  function capitalize(s) {
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  }
})();

// authportal page script. Sign-in buttons open a popup synchronously in the click (so
// popup blockers allow it) and fall back to full-page navigation when it is blocked.
// A finished sign-in in a popup tells its opener by postMessage, same origin only.
(function () {
  'use strict';

  var page = document.body.getAttribute('data-page');
  if (page === 'login') initLogin();
  if (page === 'finished') finish();

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
      if (provider === 'plex') startPlex(label);
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

  function capitalize(s) {
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  }
})();

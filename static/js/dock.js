/*
  Dock — the little JavaScript the pages use. No framework, no inline handlers,
  no eval: it runs under a strict Content-Security-Policy. Every page works
  without it; this only adds comfort.

  - Copy to clipboard:  <button type="button" data-copy="agt_123">  copies the value;
                        <button type="button" data-copy-target="#key">  copies the
                        text of the element the selector finds.
  - Confirm:            <form data-confirm="Revoke Scribe?">, or data-confirm on the
                        submit button or on a link. For htmx elements prefer
                        hx-confirm; data-confirm on them works too (it is bridged
                        through the htmx:confirm event, so nobody is asked twice).
  - Menus:              <details class="menu"> closes on outside click and Escape.
  - Flash messages:     <button data-dismiss> removes its .flash.
  - Failed requests:    an htmx answer that is not swapped (a refusal, a page gone, a
                        server error, no connection) is said in a flash message at the
                        top of the page, focused, instead of the button doing nothing.
  - Unapplied filters:  <form data-unapplied>: once a field is edited and not yet
                        applied, its [data-unapplied-note] shows, and links marked
                        data-needs-applied (in the form's parent) refuse to follow,
                        e.g. an export that would carry the filter still applied.
  - Fields one choice opens: <select data-enables-when="custom" aria-controls="id_a id_b">
                        keeps those fields disabled under any other value.
*/
(function () {
  "use strict";

  var HTMX_ATTRS = ["hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete",
    "data-hx-get", "data-hx-post", "data-hx-put", "data-hx-patch", "data-hx-delete"];

  function drivenByHtmx(el) {
    if (!el || !window.htmx) return false;
    for (var i = 0; i < HTMX_ATTRS.length; i++) {
      if (el.hasAttribute(HTMX_ATTRS[i])) return true;
    }
    var boosted = el.closest("[hx-boost], [data-hx-boost]");
    if (boosted) {
      var value = boosted.getAttribute("hx-boost") || boosted.getAttribute("data-hx-boost");
      return value === "true";
    }
    return false;
  }

  /* Announcements for screen readers ("Copied"). */
  var live = null;
  function announce(text) {
    if (!live) {
      live = document.createElement("div");
      live.className = "sr-only";
      live.setAttribute("aria-live", "polite");
      live.setAttribute("role", "status");
      document.body.appendChild(live);
    }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 30);
  }

  /* ---- copy to clipboard ---- */

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http fallback: a temporary off-screen textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "sr-only";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function valueToCopy(button) {
    var selector = button.getAttribute("data-copy-target");
    if (selector) {
      var target = document.querySelector(selector);
      if (!target) return null;
      return ("value" in target && target.value !== undefined && target.tagName !== "BUTTON")
        ? target.value : target.textContent.trim();
    }
    return button.getAttribute("data-copy");
  }

  function showCopied(button) {
    var hasText = button.textContent.trim() !== "";
    if (hasText && !button.hasAttribute("data-copy-label")) {
      button.setAttribute("data-copy-label", button.textContent);
      button.textContent = "Copied";
    }
    button.setAttribute("data-copied", "");
    window.clearTimeout(button._dockCopyTimer);
    button._dockCopyTimer = window.setTimeout(function () {
      button.removeAttribute("data-copied");
      if (button.hasAttribute("data-copy-label")) {
        button.textContent = button.getAttribute("data-copy-label");
        button.removeAttribute("data-copy-label");
      }
    }, 1600);
    announce("Copied to clipboard");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-target]");
    if (!button) return;
    event.preventDefault();
    var text = valueToCopy(button);
    if (text === null || text === "") return;
    copyText(text).then(function () { showCopied(button); }, function () {
      announce("Could not copy; select the text and copy it by hand");
    });
  });

  /* ---- confirm before destructive actions ---- */

  function confirmed(message) {
    return !message || window.confirm(message);
  }

  // Plain forms: the submitter's data-confirm wins over the form's.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter || null;
    if (drivenByHtmx(form) || drivenByHtmx(submitter)) return; // see htmx:confirm below
    var message = (submitter && submitter.getAttribute("data-confirm")) ||
      form.getAttribute("data-confirm");
    if (!confirmed(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Links (GET only: a link never changes state, but may lead to a confirm page).
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm]");
    if (!link || drivenByHtmx(link)) return;
    if (!confirmed(link.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // htmx: hx-confirm is htmx's own; data-confirm on an htmx element is bridged here.
  document.addEventListener("htmx:confirm", function (event) {
    var detail = event.detail || {};
    var el = detail.elt;
    if (!el || el.closest("[hx-confirm], [data-hx-confirm]")) return;
    var submitter = null;
    var trigger = detail.triggeringEvent;
    if (trigger && trigger.submitter) submitter = trigger.submitter;
    var source = (submitter && submitter.closest("[data-confirm]")) || el.closest("[data-confirm]");
    if (!source) return;
    event.preventDefault();
    if (window.confirm(source.getAttribute("data-confirm"))) {
      detail.issueRequest(true);
    }
  });

  /* ---- menus ---- */

  document.addEventListener("click", function (event) {
    var open = document.querySelectorAll("details.menu[open]");
    for (var i = 0; i < open.length; i++) {
      if (!open[i].contains(event.target)) open[i].removeAttribute("open");
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelectorAll("details.menu[open]");
    for (var i = 0; i < open.length; i++) {
      open[i].removeAttribute("open");
      var summary = open[i].querySelector("summary");
      if (summary && open[i].contains(document.activeElement)) summary.focus();
    }
  });

  /* ---- unapplied filters ---- */

  function unappliedScope(el) {
    return el.closest("[data-unapplied-scope]") || document;
  }

  function unappliedForm(el) {
    var form = unappliedScope(el).querySelector("form[data-unapplied]");
    return form && form.hasAttribute("data-edited") ? form : null;
  }

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form[data-unapplied]");
    if (!form || form.hasAttribute("data-edited")) return;
    form.setAttribute("data-edited", "");
    var note = form.querySelector("[data-unapplied-note]");
    if (note) note.hidden = false;
    var links = unappliedScope(form).querySelectorAll("[data-needs-applied]");
    for (var i = 0; i < links.length; i++) links[i].setAttribute("aria-disabled", "true");
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-needs-applied]");
    if (!link) return;
    var form = unappliedForm(link);
    if (!form) return;
    event.preventDefault();
    announce("The filter is not applied yet: press Enter or Apply first.");
    var apply = form.querySelector("[type=submit]");
    if (apply) apply.focus();
  });

  /* ---- fields that one choice opens ---- */

  // <select data-enables-when="custom" aria-controls="id_a id_b">: the controlled fields
  // are disabled (and so not sent) unless the select has that value. Checked on load,
  // after every swap, and on change in the capture phase, before htmx sends the form.
  function syncEnables(select) {
    var ids = (select.getAttribute("aria-controls") || "").split(/\s+/);
    var open = select.value === select.getAttribute("data-enables-when");
    for (var i = 0; i < ids.length; i++) {
      var field = ids[i] && document.getElementById(ids[i]);
      if (field) field.disabled = !open;
    }
  }

  function syncAllEnables() {
    var selects = document.querySelectorAll("select[data-enables-when]");
    for (var i = 0; i < selects.length; i++) syncEnables(selects[i]);
  }

  document.addEventListener("DOMContentLoaded", syncAllEnables);
  document.addEventListener("htmx:afterSettle", syncAllEnables);
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-enables-when]")) syncEnables(event.target);
  }, true);

  /* ---- focus after a swap ---- */

  // A link whose answer replaces it (the audit log's paging, Clear, a workspace in a row)
  // would leave keyboard focus on the page's body, and the view where the link was: at
  // the bottom after Older. data-then-focus="#id" names what gets focus instead; focusing
  // it also scrolls it into view. (htmx itself refocuses an element kept by its id.)
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var source = config && config.elt;
    var selector = source && source.getAttribute && source.getAttribute("data-then-focus");
    if (!selector) return;
    var active = document.activeElement;
    if (active && active !== document.body && document.body.contains(active)) return;
    var target = document.querySelector(selector);
    if (target) target.focus();
  });

  /* ---- requests that failed ---- */

  // htmx swaps only 2xx answers; without this, a refused or failed control did nothing.
  function failureText(status) {
    if (status === 403) return "That was refused. The page may be out of date: reload it and try again.";
    if (status === 404) return "That is no longer here. Reload the page to see how things stand now.";
    if (status === 429) return "Too many requests just now: wait a moment, then try again.";
    if (status === 0) return "Dock could not be reached. Check your connection, then try again.";
    return "Something went wrong, and it may not have been done. Reload the page to see how things stand.";
  }

  function showFailure(status) {
    var main = document.getElementById("main");
    if (!main) return;
    var list = document.getElementById("messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.id = "messages";
      main.insertBefore(list, main.firstChild);
    }
    var item = document.createElement("li");
    item.className = "flash flash-error";
    item.setAttribute("role", "alert");
    item.setAttribute("tabindex", "-1");
    var text = document.createElement("span");
    text.textContent = failureText(status);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "flash-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    item.appendChild(text);
    item.appendChild(close);
    list.appendChild(item);
    item.focus();
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    showFailure(xhr ? xhr.status : 500);
  });
  document.addEventListener("htmx:sendError", function () { showFailure(0); });

  /* ---- flash messages ---- */

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (!button) return;
    var flash = button.closest(".flash");
    if (flash) flash.remove();
  });
})();

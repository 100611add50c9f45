// Signer page: position field markers on page images, and draw-a-signature pad.
(function () {
  "use strict";
  document.querySelectorAll(".field[data-x]").forEach(function (el) {
    el.style.left = el.dataset.x + "%";
    el.style.top = el.dataset.y + "%";
    el.style.width = el.dataset.w + "%";
    el.style.height = el.dataset.h + "%";
    el.classList.add("placed");
  });
  var pad = document.getElementById("pad");
  var form = document.getElementById("sign-form");
  if (!pad || !form) { return; }
  var ctx = pad.getContext("2d");
  var drawn = false, down = false, last = null;
  var wrap = pad.parentElement;
  var typed = document.getElementById("kind-typed");
  var draw = document.getElementById("kind-drawn");
  function sync() { wrap.hidden = !draw.checked; }
  typed.addEventListener("change", sync); draw.addEventListener("change", sync); sync();
  function point(e) {
    var r = pad.getBoundingClientRect();
    return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
  }
  ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#102060";
  pad.addEventListener("pointerdown", function (e) { down = true; last = point(e); pad.setPointerCapture(e.pointerId); });
  pad.addEventListener("pointermove", function (e) {
    if (!down) { return; }
    var p = point(e);
    ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
    last = p; drawn = true;
  });
  ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) { pad.addEventListener(t, function () { down = false; }); });
  document.getElementById("pad-clear").addEventListener("click", function () {
    ctx.clearRect(0, 0, pad.width, pad.height); drawn = false;
  });
  form.addEventListener("submit", function () {
    if (draw.checked && drawn) { document.getElementById("signature_data").value = pad.toDataURL("image/png"); }
  });
})();

// Language toggle that keeps the result on the page, and drag-and-drop onto the file picker.
(function () {
  var root = document.documentElement;
  function setLang(lang) {
    root.setAttribute("data-lang", lang);
    root.setAttribute("lang", lang);
    try { localStorage.setItem("govca-lang", lang); } catch (e) { /* private mode */ }
    var form = document.getElementById("upload-form");
    if (form) { form.action = form.action.split("?")[0] + (lang === "en" ? "?lang=en" : ""); }
    if (window.history && history.replaceState) {
      var url = new URL(window.location.href);
      if (lang === "en") { url.searchParams.set("lang", "en"); } else { url.searchParams.delete("lang"); }
      history.replaceState(null, "", url.toString());
    }
  }
  // The choice made earlier is read back: a page opened without ?lang= shows the saved language.
  try {
    var saved = localStorage.getItem("govca-lang");
    if ((saved === "en" || saved === "th") && !new URL(window.location.href).searchParams.has("lang") &&
        saved !== root.getAttribute("data-lang")) {
      setLang(saved);
    }
  } catch (e) { /* private mode: the server's language stays */ }
  var toggle = document.getElementById("lang-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () { setLang(root.getAttribute("data-lang") === "en" ? "th" : "en"); });
  }
  var drop = document.getElementById("drop"), input = document.getElementById("file");
  if (drop && input) {
    ["dragenter", "dragover"].forEach(function (n) {
      drop.addEventListener(n, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (n) {
      drop.addEventListener(n, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        document.getElementById("upload-form").submit();
      }
    });
  }
})();

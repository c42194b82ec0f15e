// Check-in at the door: the Accueil page (camera, search by name, scans kept on the phone
// while the network is down), and the dashboard's live count of arrivals. A static file:
// the Content-Security-Policy allows no inline script.
(() => {
  "use strict";

  const SCAN_EVERY_MS = 150; // one frame looked at every 150 ms
  const QUIET_MS = 2000; // the same code, unseen this long, is a new scan
  const FLUSH_EVERY_MS = 10000;
  const SEND_TO_DESK = "Orientez la personne vers l’équipe organisatrice.";
  const ARRIVALS_EVERY_MS = 15000;
  const REQUEST_TIMEOUT_MS = 8000;

  function plural(n, word) {
    return `${n} ${word}${n > 1 ? "s" : ""}`;
  }

  function arrivalsText(a) {
    return (
      `${plural(a.arrived, "arrivée")} sur ${plural(a.confirmed, "inscription")} ` +
      `confirmée${a.confirmed > 1 ? "s" : ""} (${a.share}\u00a0%)`
    );
  }

  // --- The dashboard: arrivals, live -------------------------------------------------------
  const live = document.querySelector("[data-arrivals-url]");
  if (live) {
    const refresh = async () => {
      try {
        const response = await fetch(live.dataset.arrivalsUrl, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.ok) live.textContent = arrivalsText(await response.json());
      } catch (error) {
        // offline: the figure stays as it was until the next try
      }
    };
    setInterval(refresh, ARRIVALS_EVERY_MS);
  }

  // --- The Accueil page --------------------------------------------------------------------
  const root = document.getElementById("accueil");
  if (!root) return;

  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const QUEUE_KEY = `inscriptions-accueil-${root.dataset.event}`;
  const $ = (id) => document.getElementById(id);
  const panel = $("resultat");
  const undoButton = $("annuler-arrivee");
  const problem = $("probleme");
  const waiting = $("en-attente");
  const history = $("historique");
  const arrivals = $("arrivees");

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  // Scans that could not reach the server, kept on the phone (localStorage) until they do.
  function loadQueue() {
    try {
      const queue = JSON.parse(localStorage.getItem(QUEUE_KEY));
      return Array.isArray(queue) ? queue : [];
    } catch (error) {
      return [];
    }
  }

  function saveQueue(queue) {
    localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));
    showWaiting(queue.length);
  }

  function showWaiting(count) {
    waiting.textContent =
      count === 0
        ? "Aucun passage en attente d’envoi."
        : `${plural(count, "passage")} en attente d’envoi : ` +
          `${count > 1 ? "ils partiront" : "il partira"} dès le retour de la connexion.`;
    waiting.classList.toggle("app-waiting--some", count > 0);
  }

  function showProblem(message) {
    problem.textContent = message || "";
    problem.hidden = !message;
  }

  function showArrivals(data) {
    if (data) arrivals.textContent = arrivalsText(data);
  }

  function addHistory(text, ok) {
    const item = document.createElement("li");
    item.className = ok ? "app-history--ok" : "app-history--stop";
    item.textContent = text;
    history.prepend(item);
    while (history.children.length > 20) history.lastChild.remove();
  }

  function fill(kind, title, name, details, message, advice) {
    panel.className = `app-result app-result--${kind}`;
    $("resultat-titre").textContent = title;
    $("resultat-nom").textContent = name || "";
    $("resultat-details").textContent = details || "";
    $("resultat-message").textContent = message || "";
    $("resultat-conseil").textContent = advice || "";
    panel.hidden = false;
  }

  function showAnswer(data) {
    const details = [data.employer, data.status].filter(Boolean).join(" · ");
    fill(data.ok ? "ok" : "stop", data.title, data.name, details, data.message, data.advice);
    undoButton.hidden = !data.checked_in;
    undoButton.dataset.id = data.public_id || "";
    if (!data.ok && navigator.vibrate) navigator.vibrate(300);
  }

  function describe(data) {
    return [data.title, data.name, data.message].filter(Boolean).join(" – ");
  }

  // A weak connection may hang rather than fail: past this, the scan is kept and sent later.
  async function post(url, body) {
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrf,
        },
        credentials: "same-origin",
        body: JSON.stringify(body),
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timeout);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    return { response, data };
  }

  // For an answer that is not ours to show: kept and sent again later if the server is in
  // trouble (5xx), a portal answered instead (not JSON), the requests come too fast, or the
  // session or the page needs renewing (it goes once that is done). Any other refusal (4xx)
  // will never change: the scan is dropped, with the reason in red.
  function worthRetrying(response, data) {
    const status = response.status;
    if (status < 400 || status >= 500 || [401, 408, 429].includes(status)) return true;
    return Boolean(data && (data.reload || data.signed_out));
  }

  function refused(scan, data) {
    const message = (data && data.error) || "Le serveur a refusé ce passage.";
    fill("stop", "Passage refusé", scan.label, "", message, SEND_TO_DESK);
    undoButton.hidden = true;
    addHistory(`Refusé : ${[scan.label, message].filter(Boolean).join(" – ")}`, false);
  }

  function enqueue(scan) {
    const queue = loadQueue();
    if (!queue.some((kept) => kept.scan === scan.scan)) queue.push(scan);
    saveQueue(queue);
    fill(
      "queued",
      "Passage gardé sur ce téléphone",
      scan.label,
      "",
      "Pas de connexion : le passage sera envoyé dès son retour.",
      "Laissez entrer si le billet et l’identité correspondent ; vérifiez plus tard.",
    );
    undoButton.hidden = true;
  }

  // One scan or one choice in the search: sent now, or kept if the server is out of reach.
  async function submit(scan) {
    showProblem("");
    if (!navigator.onLine) {
      enqueue(scan);
      return;
    }
    let result;
    try {
      result = await post(root.dataset.checkUrl, scan);
    } catch (error) {
      enqueue(scan);
      return;
    }
    const { response, data } = result;
    if (response.ok && data) {
      showAnswer(data);
      addHistory(describe(data), data.ok);
      showArrivals(data.arrivals);
      return;
    }
    if (!worthRetrying(response, data)) {
      refused(scan, data);
      return;
    }
    enqueue(scan);
    if (data && data.error) showProblem(data.error);
  }

  let flushing = false;
  async function flush() {
    if (flushing || !navigator.onLine) return;
    flushing = true;
    try {
      for (const scan of loadQueue()) {
        let result;
        try {
          result = await post(root.dataset.checkUrl, scan);
        } catch (error) {
          break;
        }
        const { response, data } = result;
        const sent = response.ok && data;
        if (!sent && worthRetrying(response, data)) {
          if (data && data.error) showProblem(data.error);
          break;
        }
        saveQueue(loadQueue().filter((kept) => kept.scan !== scan.scan));
        if (sent) {
          addHistory(`Envoyé après la coupure : ${describe(data)}`, data.ok);
          showArrivals(data.arrivals);
        } else {
          const message = (data && data.error) || "le serveur a refusé ce passage";
          addHistory(`Refusé après la coupure : ${scan.label} – ${message}`, false);
        }
      }
    } finally {
      flushing = false;
      showWaiting(loadQueue().length);
    }
  }

  undoButton.addEventListener("click", async () => {
    const id = undoButton.dataset.id;
    if (!id) return;
    let result;
    try {
      result = await post(root.dataset.undoUrl.replace("__ID__", encodeURIComponent(id)), {});
    } catch (error) {
      showProblem("Pas de connexion : l’annulation n’est pas partie. Réessayez.");
      return;
    }
    const { response, data } = result;
    if (!response.ok || !data) {
      showProblem((data && data.error) || "L’annulation n’a pas abouti. Réessayez.");
      return;
    }
    showProblem("");
    fill("undone", "Arrivée annulée", "", "", data.message, "");
    undoButton.hidden = true;
    addHistory(data.message, false);
    showArrivals(data.arrivals);
  });

  // --- Search by name -----------------------------------------------------------------------
  const searchState = $("recherche-etat");
  const results = $("resultats");

  function personItem(person) {
    const item = document.createElement("li");
    const line = document.createElement("p");
    const name = document.createElement("strong");
    name.textContent = person.name;
    const parts = [person.employer, person.status, person.arrived].filter(Boolean);
    line.append(name, ...parts.map((part) => ` – ${part}`));
    if (!person.confirmed) {
      // No seat (cancelled, waiting list, unconfirmed…): nothing to record at the door.
      const status = document.createElement("p");
      status.className = "app-people__stop";
      status.textContent = `${person.status} : pas de place réservée. ${SEND_TO_DESK}`;
      item.append(line, status);
      return item;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "fr-btn fr-btn--sm";
    button.textContent = "Enregistrer l’arrivée";
    button.setAttribute("aria-label", `Enregistrer l’arrivée de ${person.name}`);
    button.addEventListener("click", () => {
      submit({ scan: newId(), id: person.public_id, at: new Date().toISOString(), label: person.name });
      panel.scrollIntoView({ block: "start" });
    });
    item.append(line, button);
    return item;
  }

  $("recherche").addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const text = $("q").value.trim();
    if (!text) return;
    searchState.textContent = "Recherche…";
    let response;
    try {
      const url = `${root.dataset.searchUrl}?q=${encodeURIComponent(text)}`;
      response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    } catch (error) {
      searchState.textContent = "Recherche impossible sans connexion.";
      return;
    }
    const data = response.ok ? await response.json() : null;
    if (!data) {
      searchState.textContent = "La recherche n’a pas abouti. Rechargez la page.";
      return;
    }
    results.replaceChildren(...data.results.map(personItem));
    searchState.textContent =
      data.results.length === 0 ? "Aucune inscription ne correspond." : `${plural(data.results.length, "résultat")}.`;
  });

  // --- The camera ---------------------------------------------------------------------------
  const video = $("video");
  const cameraButton = $("camera");
  const cameraState = $("camera-etat");
  let stream = null;
  let timer = null;

  function loadScript(url) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = resolve;
      script.onerror = () => {
        script.remove(); // the next try adds a fresh one
        reject(new Error(`${url} not loaded`));
      };
      document.head.append(script);
    });
  }

  // The browser's BarcodeDetector, where it reads QR codes (null elsewhere: iOS Safari,
  // Firefox, Debian's chromium).
  async function nativeDetector() {
    if (!("BarcodeDetector" in window)) return null;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (!formats.includes("qr_code")) return null;
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return async (source) => {
        const found = await detector.detect(source);
        return found.length ? found[0].rawValue : null;
      };
    } catch (error) {
      return null;
    }
  }

  // jsQR (from npm) where the browser has no decoder: loaded with the page, so that the
  // camera still works if the network drops before it is turned on.
  let jsqrLoading = null;
  function loadJsqr() {
    if (window.jsQR) return Promise.resolve();
    if (!jsqrLoading) {
      jsqrLoading = loadScript(root.dataset.jsqrUrl).catch((error) => {
        jsqrLoading = null; // tried again when the camera is turned on
        throw error;
      });
    }
    return jsqrLoading;
  }
  const nativeReady = nativeDetector();
  nativeReady.then((native) => (native ? null : loadJsqr())).catch(() => {
    // offline now: loaded again when the camera is turned on
  });

  // The browser's decoder, or jsQR's; rejects if jsQR cannot be loaded.
  async function makeDetector() {
    const native = await nativeReady;
    if (native) return native;
    await loadJsqr();
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    return async (source) => {
      const width = source.videoWidth;
      const height = source.videoHeight;
      if (!width || !height) return null;
      const scale = Math.min(1, 640 / Math.max(width, height));
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      context.drawImage(source, 0, 0, canvas.width, canvas.height);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(image.data, image.width, image.height, {
        inversionAttempts: "dontInvert",
      });
      return found ? found.data : null;
    };
  }

  let lastCode = null;
  let lastSeen = 0;

  function seen(code) {
    const now = Date.now();
    const again = code === lastCode && now - lastSeen < QUIET_MS;
    lastCode = code;
    lastSeen = now;
    if (!again) {
      submit({ scan: newId(), code, at: new Date().toISOString(), label: "Code scanné" });
    }
  }

  function releaseCamera() {
    clearTimeout(timer);
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    cameraButton.textContent = "Activer la caméra";
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraState.textContent = "Ce navigateur n’a pas accès à la caméra : utilisez la recherche par nom.";
      return;
    }
    cameraState.textContent = "Ouverture de la caméra…";
    cameraButton.disabled = true;
    let detect;
    try {
      detect = await makeDetector();
    } catch (error) {
      cameraButton.disabled = false;
      cameraState.textContent =
        "Le lecteur de QR codes n’a pas pu être chargé (pas de connexion ?) : " +
        "réessayez une fois la connexion revenue, ou utilisez la recherche par nom.";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
    } catch (error) {
      stream = null;
      cameraState.textContent =
        "Caméra indisponible ou refusée : autorisez-la dans le navigateur, ou utilisez la recherche par nom.";
      return;
    } finally {
      cameraButton.disabled = false;
    }
    video.srcObject = stream;
    video.hidden = false;
    try {
      await video.play();
    } catch (error) {
      releaseCamera();
      cameraState.textContent =
        "L’image de la caméra ne s’affiche pas : réessayez, ou utilisez la recherche par nom.";
      return;
    }
    cameraButton.textContent = "Arrêter la caméra";
    cameraState.textContent = "Caméra active : présentez un QR code.";
    // The button, the image and the answer under it, together on a phone's screen.
    cameraButton.scrollIntoView({ block: "start" });
    const tick = async () => {
      if (!stream) return;
      try {
        const code = await detect(video);
        if (code) seen(code);
      } catch (error) {
        // an unreadable frame: the next one will do
      }
      timer = setTimeout(tick, SCAN_EVERY_MS);
    };
    tick();
  }

  function stopCamera() {
    releaseCamera();
    cameraState.textContent = "Caméra arrêtée.";
  }

  cameraButton.addEventListener("click", () => (stream ? stopCamera() : startCamera()));

  showWaiting(loadQueue().length);
  window.addEventListener("online", flush);
  setInterval(flush, FLUSH_EVERY_MS);
  flush();
})();

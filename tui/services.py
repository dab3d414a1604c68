"""What the screens ask of synth, composed from synth's own APIs (no textual here).

Library file operations come from ``synth.library.files``; run control lives in
``tui.runner``.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from synth.library import files as library_files
from synth.errors import LibraryError
from synth.library.personas import load_personas, save_persona
from synth.library.topics import load_topic_sources
from synth.models import Persona, TopicSource
from synth.dataset.store import Store
from synth.library.workspace import Workspace
from tui.preview_services import PreviewServices

UNTIL_PER_TOPIC = 5  # "until N pass": at most this many conversations of a topic (as the CLI)


class Services(PreviewServices):
    """The app's view of one workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.store = Store(ws.runs_dir)
        self._shutdown_hooks: list = []
        self._sessions: dict = {}
        self._runner = None

    @property
    def runner(self):
        """The one run controller of the app (created on first use)."""
        if self._runner is None:
            from tui.runner import RunController

            self._runner = RunController(self)
        return self._runner

    def run_in_progress(self) -> bool:
        """Whether a run started from the app is still writing (or paused mid-way)."""
        return self._runner is not None and self._runner.running

    def compare_runs(self, run_a: str, run_b: str):
        """Two runs side by side (``synth.dataset.compare``); blocking: call it from a worker."""
        from synth.dataset.compare import compare_runs

        return compare_runs(self.store, run_a, run_b)

    def is_first_run(self) -> bool:
        """No runs yet: the app opens on Synthesize with the embedded model and the examples."""
        try:
            return not self.store.run_ids()
        except Exception:  # noqa: BLE001 - an unreadable catalog is shown elsewhere
            return False

    def on_shutdown(self, fn) -> None:
        self._shutdown_hooks.append(fn)

    def shutdown(self) -> None:
        """At exit: cancel a run cleanly, then stop the embedded model."""
        if self._runner is not None:
            self._runner.shutdown()
        for fn in reversed(self._shutdown_hooks):
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
        self._shutdown_hooks.clear()
        self.close_sessions()

    # -- personas ---------------------------------------------------------------------------
    def personas(self) -> tuple[list[Persona], list[LibraryError]]:
        return load_personas(self.ws)

    def new_persona(self, persona_id: str) -> Persona:
        return library_files.new_persona(self.ws.personas_dir, persona_id)

    def duplicate_persona(self, persona: Persona, new_id: str) -> Persona:
        return library_files.duplicate_persona(persona, new_id)

    def rename_persona(self, persona: Persona, new_id: str) -> Persona:
        return library_files.rename_persona(persona, new_id)

    def delete_persona(self, persona: Persona) -> None:
        library_files.delete_persona(persona)

    def save_persona(self, persona: Persona) -> Path:
        return save_persona(persona, persona.path)

    def add_example(self, persona_id: str, turns) -> tuple[Persona, int]:
        """The conversation (its turns, edits included) becomes one of the persona's examples."""
        from synth.library.edit import add_example
        from synth.library.personas import find_persona

        return add_example(find_persona(self.ws, persona_id),
                           [(t.role, t.text) for t in turns])

    # -- topic sources ----------------------------------------------------------------------
    def topic_sources(self) -> tuple[list[TopicSource], list[LibraryError]]:
        return load_topic_sources(self.ws)

    def new_topic_source(self, source_id: str) -> TopicSource:
        return library_files.new_topic_source(self.ws.topics_dir, source_id)

    def delete_topic_source(self, source: TopicSource) -> None:
        library_files.delete_topic_source(source)

    def save_topics(self, source: TopicSource, texts: list[str]) -> TopicSource:
        return library_files.save_topics(source, texts)

    read_topic_lines = staticmethod(library_files.read_topic_lines)

    # -- endpoints and runs -------------------------------------------------------------------
    # -- brainstorming topics (synth.curate.topic_ideas) ------------------------------------
    def brainstorm_estimate(self, source: TopicSource, n: int, about: str,
                            parent: str | None = None, endpoint: str | None = None) -> str:
        """The estimate line for the default (or named) endpoint, without a request."""
        from synth.curate import topic_ideas
        from synth.generate import brainstorm

        cfg = self.ws.config.endpoint(endpoint)
        persona = topic_ideas.persona_for(self.ws, source, None)
        req = topic_ideas.prepare(source, persona, n, style=cfg.style or persona.style,
                                  about=about, parent=parent)
        est = brainstorm.estimate(req, self.default_model(cfg.name), free=cfg.is_embedded,
                                  overrides=self.ws.config.prices or None)
        return est.line()

    def brainstorm(self, source: TopicSource, n: int, about: str, parent: str | None = None,
                   endpoint: str | None = None):
        """Ask the model and curate its answer (blocking: call it from a thread)."""
        from synth.curate import topic_ideas

        persona = topic_ideas.persona_for(self.ws, source, None)
        session, _label = self.endpoint_session(endpoint, None)
        ep = session.endpoint
        try:
            req = topic_ideas.prepare(source, persona, n, style=ep.style, about=about,
                                      parent=parent)
            return topic_ideas.propose(source, req, ep)
        finally:
            if session.server is None:
                session.close()

    def add_topics(self, source: TopicSource, texts: list[str], parent: str | None = None):
        from synth.library.edit import add_topics

        return add_topics(source, texts, parent=parent)

    def endpoint_names(self) -> list[tuple[str, str]]:
        """(label, name) for each configured endpoint, the embedded one labelled as a demo."""
        cfg = self.ws.config
        eps = list(cfg.endpoints)
        if not any(e.name == "local" for e in eps):
            from synth.library.workspace import EndpointConfig

            eps.insert(0, EndpointConfig(name="local", kind="embedded", style="completion"))
        out = []
        for e in eps:
            label = f"{e.name} (small offline demo model)" if e.is_embedded else \
                f"{e.name} ({e.default_model or 'server default'})"
            out.append((label, e.name))
        return out

    def default_model(self, endpoint: str | None) -> str:
        from synth.generate import local
        ep = self.ws.config.endpoint(endpoint)
        if ep.is_embedded:
            return local.MODEL_ALIAS
        return ep.default_model or ""

    def endpoint_session(self, name: str | None, model: str | None, note=lambda text: None):
        """An open EndpointSession (blocking: an embedded model is started and kept running
        until the app exits).  Returns (session, label)."""
        from synth.generate.endpoints import EndpointSession

        cfg = self.ws.config
        ep_cfg = cfg.endpoint(name)
        key = (ep_cfg.name, model or "")
        if ep_cfg.is_embedded:
            cached = self._sessions.get(key)
            if cached is not None and cached.server is not None and cached.server.proc is not None \
                    and cached.server.proc.poll() is None:
                return cached, cached.endpoint.label
            note("starting the small offline demo model (Gemma 3 270M)…")
        session = EndpointSession(cfg, name=ep_cfg.name, model=model or None)
        session.open()
        if ep_cfg.is_embedded:
            self._sessions[key] = session
        return session, session.endpoint.label

    def close_sessions(self) -> None:
        for s in self._sessions.values():
            try:
                s.close()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
        self._sessions.clear()

    def cost_fn(self):
        from synth.pricing import cost_fn

        return cost_fn(self.ws.config.prices or None)

    def resolve_examples(self, persona: Persona) -> Persona:
        """The persona with its examples given by stored conversation id looked up."""
        from synth.dataset.example_refs import resolve_examples

        return resolve_examples(self.store, persona)

    def spec_for(self, req, *, endpoint: str, model: str, style: str | None,
                 concurrency: int | None = None):
        from synth.library.personas import find_persona
        from synth.library.topics import find_topics
        from synth.models import RunSpec

        from synth.dataset.example_refs import resolve_examples

        persona = resolve_examples(self.store, find_persona(self.ws, req.persona))
        topics = find_topics(self.ws, req.topics)
        defaults = self.ws.config.defaults or {}
        return RunSpec.for_persona(
            persona, topics, per_topic=req.per_topic or 1, endpoint=endpoint, model=model,
            style=style, temperature=req.temperature, max_tokens=req.max_tokens, stop=req.stop,
            seed=req.seed, top_p=req.top_p, presence_penalty=req.presence_penalty,
            frequency_penalty=req.frequency_penalty, repeat_penalty=req.repeat_penalty,
            concurrency=req.concurrency or concurrency or int(defaults.get("concurrency", 4)),
            budget=req.budget, limit=req.limit, method=getattr(req, "method", None))

    def build_spec(self, req, ep, session):
        if ep.free and session.concurrency and (req.concurrency or 99) > session.concurrency:
            req = replace(req, concurrency=session.concurrency)  # llama.cpp: one at a time
        spec = self.spec_for(req, endpoint=ep.name, model=ep.model, style=ep.style,
                             concurrency=session.concurrency)
        library_files.require_topics(spec.topics)  # an empty list is valid but can't be run
        return spec

    def estimate(self, req):
        """synth's estimate for what the form asks, without starting anything: with the
        judge's line (Judge ticked) and the cost at the observed pass rate ("until N pass")."""
        from synth.curate.estimate_quality import Until, estimate_quality, judge_model

        cfg = self.ws.config
        ep_cfg = cfg.endpoint(req.endpoint)
        model = req.model or self.default_model(req.endpoint)
        spec = self.spec_for(req, endpoint=ep_cfg.name, model=model, style=ep_cfg.style)
        judge = judge_model(cfg, self.judge_persona(spec.persona), ep_cfg.name, model) \
            if req.judge else None
        until = Until(req.until_pass, req.max_new, max(UNTIL_PER_TOPIC, spec.per_topic)) \
            if req.until_pass else None
        return estimate_quality(self.store, spec, overrides=cfg.prices or None,
                                local=ep_cfg.is_embedded, judge=judge, until=until)

    # -- judged and "until N pass" runs (the run worker's side; synth.curate.until's parts) --
    def open_judge(self, stack, spec, writer):
        """The Judge for a run the form asked to judge: the persona's judge endpoint and model,
        else the workspace's defaults, else the writer's (shared, never started twice)."""
        from synth.curate.judge import rubric_for
        from synth.curate.judge_setup import open_judge
        from synth.curate.judging import Judge

        persona = self.judge_persona(spec.persona)
        rubric = rubric_for(persona)  # no rubric: refused before anything is written
        jep = open_judge(stack, self.ws, persona, writer=writer)
        return Judge(jep, persona, rubric, cost_fn=self.cost_fn(), concurrency=4)

    # -- batch jobs: Synthesize's "as a batch job" (tui/batch_jobs.py) ----------------------
    @property
    def batches(self):
        """Prepare, submit, poll, collect and cancel a run's batch jobs (created on first use)."""
        if getattr(self, "_batches", None) is None:
            from tui.batch_jobs import BatchJobs

            self._batches = BatchJobs(self)
        return self._batches

    # -- export -----------------------------------------------------------------------------------
    def datasets(self):
        from synth.dataset.datasets import Datasets

        return Datasets(self.store)

    def add_to_dataset(self, name: str, run_id: str) -> str:
        """Add a run to the dataset ``name``, making the dataset when there is none; one line."""
        from synth.dataset.datasets import describe

        sets = self.datasets()
        ds = sets.add(name, [run_id]) if sets.exists(name) else sets.create(name, [run_id])
        return describe(ds)

    def export(self, target: str, opts, *, write: bool):
        """Run synth.dataset.export for real on a run id or ``dataset:NAME``.  ``write=False``:
        into a scratch folder that is removed afterwards (a check: exactly what would be
        written).  Returns (result, report markdown)."""
        import tempfile

        from synth.dataset.export import export_dataset, export_run

        prices = self.ws.config.finetune_prices or None
        export, ref = export_run, target
        if target.startswith("dataset:"):
            export, ref = export_dataset, target.split(":", 1)[1]
        if write:
            result = export(self.store, ref, None, opts, exports_dir=self.ws.exports_dir,
                            finetune_prices=prices)
            md = next((p for p in result.report_paths if p.suffix == ".md"), None)
            return result, md.read_text(encoding="utf-8") if md else ""
        scratch = Path(tempfile.mkdtemp(prefix="chatsynth-check-"))
        try:
            result = export(self.store, ref, scratch / "out", opts, finetune_prices=prices)
            md = next((p for p in result.report_paths if p.suffix == ".md"), None)
            return result, md.read_text(encoding="utf-8") if md else ""
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # -- the LLM judge in Review (tui/judge_job.py; synth.curate.judging) ------------------------
    def judge_persona(self, persona: Persona) -> Persona:
        """The run's persona with the ``judge:`` block its file has now (added after the run)."""
        from synth.errors import ChatsynthError
        from synth.library.personas import find_persona

        try:
            now = find_persona(self.ws, persona.id)
        except ChatsynthError:
            return persona
        return replace(persona, judge=now.judge) if now.judge is not None else persona

    def judge_endpoint(self, persona: Persona) -> tuple[str, str | None]:
        """(endpoint name, model or None) that judges this persona's conversations: its
        ``judge.endpoint``, else the workspace's ``defaults.judge_endpoint``.  None configured:
        a LibraryError saying where to set one (Review never judges with the writer by guess)."""
        spec = persona.judge
        defaults = self.ws.config.defaults or {}
        name = (spec.endpoint if spec else None) or defaults.get("judge_endpoint")
        model = (spec.model if spec else None) or defaults.get("judge_model")
        if not name:
            have = ", ".join(n for _, n in self.endpoint_names())
            where = persona.path.name if persona.path else f"personas/{persona.id}.yaml"
            raise LibraryError(
                f"no judge endpoint for {persona.name}: add a judge: block with endpoint: NAME "
                f"to {where}, or judge_endpoint: NAME under defaults: in chatsynth.yaml "
                f"(endpoints: {have}; Settings (6) adds one)", path=persona.path,
                field="judge.endpoint")
        self.ws.config.endpoint(name)  # an unknown name: the config's own message
        return name, model

    def judge_job(self, run_id: str, persona: Persona, items: list):
        """A JudgeJob for ``items`` ((id, turns) pairs) of the run (blocking: opens the judge's
        endpoint, starting an embedded model if that is the judge).  Raises ChatsynthError for
        a missing endpoint or rubric; the job's verdicts go to the run's judge cache."""
        from tui.judge_job import JudgeJob

        judge, close = self.open_judge_for(persona, self.store.run_dir(run_id))
        return JudgeJob(judge, items, close=close)

    def open_judge_for(self, persona: Persona, run_dir: Path):
        """(Judge, close or None): the persona's rubric on its judge endpoint, its verdicts
        cached in ``run_dir`` (Review's runs and the Library's preview samples alike)."""
        from synth.curate.judge import rubric_for
        from synth.curate.judging import CACHE_NAME, Judge, JudgeCache

        name, model = self.judge_endpoint(persona)
        rubric = rubric_for(persona)
        session, _label = self.endpoint_session(name, model)
        cache = JudgeCache(Path(run_dir) / CACHE_NAME)
        defaults = self.ws.config.defaults or {}
        conc = session.concurrency or int(defaults.get("concurrency", 4))
        judge = Judge(session.endpoint, persona, rubric, cache=cache, cost_fn=self.cost_fn(),
                      concurrency=conc)
        return judge, (None if session.server is not None else session.close)

    # -- the Playground screen (synth.generate.chat, synth.dataset.playground) -------------------
    def playground_chat(self, persona_id: str, mode: str, endpoint: str | None,
                        topic: str | None = None, note=lambda text: None):
        """A ChatSession with the persona through the endpoint (blocking: opens the endpoint,
        starting an embedded model if it is that one).  Returns (chat, close)."""
        from synth.generate.chat import ChatSession
        from synth.library.personas import find_persona

        persona = self.resolve_examples(find_persona(self.ws, persona_id))
        session, _label = self.endpoint_session(endpoint, None, note)
        chat = ChatSession(session.endpoint, persona, mode=mode, topic=topic or None,  # type: ignore[arg-type]
                           price=self.cost_fn())
        close = (lambda: None) if session.server is not None else session.close
        return chat, close

    def playground_save(self, chat) -> tuple[str, str]:
        """Store the exchange in the persona's playground run: (run id, conversation id)."""
        from synth.dataset.playground import save_exchange

        return save_exchange(self.store, chat)

    # -- held-out evaluation of an export (the Eval screen; synth.dataset.evaluate) --------
    def eval_job(self):
        """An EvalJob (tui/eval_job.py): the exports, an export's openings, the evaluation."""
        from tui.eval_job import EvalJob

        return EvalJob(self)

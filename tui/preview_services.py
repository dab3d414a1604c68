"""The Library's live preview, as ``tui.services.Services`` offers it to the Library screen
(``tui.screens.library_preview``): the prompt a sample sends, a SampleJob that writes one (with
the judge when it is on), the samples listed, one moved into a run.  The work is in
``synth.dataset.preview`` and ``synth.dataset.preview_move``; this only wires the workspace's
endpoints and the judge's service path (``Services.open_judge_for``, Review's too)."""

from __future__ import annotations

from synth.models import Persona


class PreviewServices:
    """Mixed into Services: uses its ``ws``, ``store``, ``endpoint_session``, ``cost_fn``,
    ``resolve_examples``, ``default_model``, ``judge_endpoint`` and ``open_judge_for``."""

    @property
    def preview(self):
        """The preview area of the store: samples written from the persona form."""
        from synth.dataset.preview import PreviewArea, preview_root

        return PreviewArea(preview_root(self.ws.root))

    def preview_target(self) -> tuple[str, str, str]:
        """(endpoint, model, style) a sample is written with: the workspace's default endpoint."""
        ep = self.ws.config.endpoint(None)
        style = "completion" if ep.is_embedded else ep.style
        return ep.name, self.default_model(ep.name), style

    def preview_prompt(self, persona: Persona, topic) -> tuple[object, int, str]:
        """The prompt the next sample of ``topic`` sends, its token count and the encoding."""
        from synth.tokens import counter_for

        name, model, style = self.preview_target()
        persona = self.resolve_examples(persona)
        prompt = self.preview.next_prompt(persona, topic, endpoint=name, model=model, style=style)
        counter = counter_for(model)
        n = counter.chat_tokens(prompt.messages) if prompt.style == "chat" else counter.count(prompt.text)
        return prompt, n, counter.encoding_name

    def preview_job(self, persona: Persona, topic, note=lambda text: None):
        """A SampleJob for one sample (blocking: opens the endpoint, starting an embedded model
        if that is the default); run it with ``job.run(on_event)``, then ``job.close()``.  With
        the judge on (``preview_judge_off`` says None), the job's judge scores the sample;
        ``job.judge_note`` says why the judge is off, or that it failed to open."""
        from synth.dataset.preview import SampleJob

        name, model, style = self.preview_target()
        persona = self.resolve_examples(persona)
        spec = self.preview.spec(persona, topic, endpoint=name, model=model, style=style)
        session, _label = self.endpoint_session(name, model, note)
        closes = [] if session.server is not None else [session.close]
        judge, judge_note = None, self.preview_judge_off(persona)
        if judge_note is None:
            try:
                store = self.preview.store(persona.id)
                judge, close = self.open_judge_for(persona, store.run_dir(store.bind(spec)))
                closes += [close] if close else []
            except Exception as exc:  # noqa: BLE001 - the sample goes on; the pane says why
                judge_note = f"✗ judge failed: {getattr(exc, 'message', None) or exc}"
        job = SampleJob(self.preview, spec, session.endpoint, cost_fn=self.cost_fn(), judge=judge)
        job.judge_note = judge_note

        def close_all() -> None:
            for fn in closes:
                fn()
        job.close = close_all
        return job

    def preview_judge_off(self, persona: Persona) -> str | None:
        """Why the judge does not score samples of this persona (form values), or None (on)."""
        from synth.curate.judge import rubric_for
        from synth.errors import ChatsynthError

        try:
            rubric_for(persona)
        except ChatsynthError:
            return "judge off: no rubric (judge.criteria, or a description to build one from)"
        try:
            self.judge_endpoint(persona)
        except ChatsynthError as err:
            if getattr(err, "field", None) == "judge.endpoint" and "no judge endpoint" in str(err):
                return "judge off: no judge endpoint (judge_endpoint: in chatsynth.yaml)"
            return f"judge off: {getattr(err, 'message', None) or err}"
        return None

    def preview_samples(self, persona_id: str):
        return self.preview.samples(persona_id)

    def preview_move(self, sample_id: str, persona_id: str, run: str | None = None):
        """Move a sample into a run (the persona's playground run unless ``run``): (run id,
        conversation id, sample)."""
        from synth.dataset.preview_move import move_sample

        return move_sample(self.preview, self.store, sample_id, run=run, persona_id=persona_id)


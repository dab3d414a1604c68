"""What the Library's live preview does: re-render the synthesis prompt as the persona form
changes, write one sample (F5) from the form's current values in a worker thread through
``tui.services`` (the engine writes it into the store's preview area, never a run; the judge
scores it after the filters when the persona has a rubric and a judge endpoint is set), cancel
it when the form is edited, keep a sample as one of the persona's few-shot examples (k), and
move one into a run (m: the persona's playground run), where Review and export see it.
The Library screen mixes this in; the pane itself is ``tui.widgets.preview_pane``."""

from __future__ import annotations

from textual import work

from synth.errors import ChatsynthError
from tui.widgets.preview_pane import PreviewPane


class LibraryPreview:
    """Mixed into LibraryScreen: uses its ``form``, ``current``, ``sources`` and ``services``."""

    job = None  # the SampleJob writing now, if any
    job_hash: str | None = None  # the persona version it writes for

    @property
    def pane(self) -> PreviewPane | None:
        found = self.query(PreviewPane)
        return found.first() if found else None

    def preview_topics(self) -> None:
        """The persona's own topic list, else the one on the right, else the first."""
        from tui.widgets.run_form import own_topic_source
        from tui.widgets.topic_editor import TopicEditor

        pane = self.pane
        if pane is None or self.current is None:
            return
        shown = self.query_one(TopicEditor).source
        want = own_topic_source(self.current.id, self.sources) or (shown.id if shown else None)
        source = next((s for s in self.sources if s.id == want), None) or \
            (self.sources[0] if self.sources else None)
        pane.set_topics(source.topics if source else [], source.id if source else None)

    def on_persona_form_changed(self, event) -> None:
        pane = self.pane
        if pane is None:
            return
        if self.job is not None and (event.persona is None
                                     or event.persona.content_hash() != self.job_hash):
            if self.job is True:  # still opening the endpoint: the worker sees None and stops
                self.job = None
            else:
                self.job.cancel("the form was edited")
            pane.state("■ sample cancelled: the form was edited", "warn")
        self.refresh_preview()

    def on_select_changed(self, event) -> None:
        if event.select.id == "preview-topic":
            event.stop()
            self.refresh_preview()

    def refresh_preview(self) -> None:
        pane, form = self.pane, self.form
        if pane is None or form is None:
            return
        if form.error or form.valid is None:
            pane.show_problem(form.error or "pick a persona")
            return
        if pane.topic is None:
            pane.show_problem("no topics: add one to the persona's topic list")
            return
        self._render_prompt(form.valid, pane.topic)

    @work(thread=True, exclusive=True, group="preview-prompt", exit_on_error=False)
    def _render_prompt(self, persona, topic) -> None:
        try:
            prompt, n, enc = self.services.preview_prompt(persona, topic)
        except ChatsynthError as err:
            self.app.call_from_thread(self._show_problem, str(err))
            return
        self.app.call_from_thread(self._show_prompt, persona, prompt, n, enc)

    def _show_prompt(self, persona, prompt, n, enc) -> None:
        form, pane = self.form, self.pane
        if pane is not None and form is not None and form.valid is not None \
                and form.valid.content_hash() == persona.content_hash():
            pane.show_prompt(prompt, n, enc)

    def _show_problem(self, message: str) -> None:
        if self.pane is not None:
            self.pane.show_problem(message)

    def list_preview_samples(self) -> None:
        pane, form = self.pane, self.form
        if pane is None or self.current is None:
            return
        version = form.valid.content_hash() if form is not None and form.valid else ""
        try:
            samples = self.services.preview_samples(self.current.id)
        except ChatsynthError as err:
            pane.state(f"✗ {err}", "bad")
            return
        pane.list_samples(samples, version)

    # -- F5: one sample ------------------------------------------------------------------
    async def action_preview_sample(self) -> None:
        if self.form is None and self.current is not None:
            await self.open_editor(focus=False)  # from the list: one key to a sample
        pane, form = self.pane, self.form
        if pane is None or form is None:
            return
        if form.error or form.valid is None:
            pane.state(f"✗ not started: {form.error}", "bad")
            return
        if pane.topic is None:
            pane.state("✗ not started: the persona's topic list is empty", "bad")
            return
        if self.job is not None:
            pane.state("● a sample is being written; edit the form to cancel it", "warn")
            return
        if self.has_class("-narrow"):
            pane.query_one("#preview-list").focus()  # at 80 columns the pane replaces the form
        persona, topic = form.valid, pane.topic
        self.job_hash = persona.content_hash()
        self.job = True  # taken: the worker puts the real job here once the endpoint is open
        pane.sample_started(topic.text)
        self._write_sample(persona, topic)

    @work(thread=True, exclusive=True, group="preview-sample", exit_on_error=False)
    def _write_sample(self, persona, topic) -> None:
        from synth.dataset.preview import Judged
        from synth.generate.events import Chunk, ConversationFailed, ConversationFinished, RunFinished

        call = self.app.call_from_thread
        try:
            job = self.services.preview_job(
                persona, topic, note=lambda text: call(self.pane.state, f"● {text}", "warn"))
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            call(self._sample_done, f"✗ not started: {exc}", "bad", None)
            return
        note = getattr(job, "judge_note", None)  # why the judge is off, or failed to open
        if self.job is None:  # edited while the endpoint opened
            job.close()
            call(self._sample_done, "■ sample cancelled: the form was edited", "warn", None)
            return
        self.job = job
        result: list = []

        def on_event(ev) -> None:
            nonlocal note
            if isinstance(ev, Chunk):
                call(self.pane.add_text, ev.text)
            elif isinstance(ev, ConversationFinished):
                result.append(ev.conversation)
                if job.judge is not None and ev.conversation.status == "complete":
                    call(self.pane.state, "● the judge is scoring the sample…", "warn")
            elif isinstance(ev, Judged):
                note = None if ev.error is None or ev.judgement is not None \
                    else f"✗ judge failed: {ev.error}"
            elif isinstance(ev, ConversationFailed):
                result.append(ev.reason)
            elif isinstance(ev, RunFinished) and ev.outcome not in ("complete",):
                result.append(f"{ev.outcome}: {ev.reason}")

        try:
            job.run(on_event)
        except Exception as exc:  # noqa: BLE001 - shown, never a traceback
            result.append(str(exc))
        finally:
            job.close()
        if job.cancelled:
            call(self._sample_done, "■ sample cancelled: the form was edited", "warn", None)
        elif result and not isinstance(result[0], str):
            call(self._sample_done, "✓ sample written (k keeps it as an example, m moves it "
                 "into a run)", "good", result[0].id, note)
        else:
            call(self._sample_done, f"✗ {result[-1] if result else 'no sample'}", "bad", None)

    def _sample_done(self, text: str, kind: str, conversation_id: str | None,
                     judge_note: str | None = None) -> None:
        self.job, self.job_hash = None, None
        pane = self.pane
        if pane is None:
            return
        pane.state(text, kind)
        self.list_preview_samples()
        if conversation_id is not None and self.form is not None and self.form.valid:
            sample = next((s for s in pane.samples if s.conversation.id == conversation_id), None)
            if sample is not None:
                v = self.form.valid
                pane.show_sample(sample, v.user_label, v.persona_label, judge_note)

    # -- the list of samples -------------------------------------------------------------
    def preview_highlighted(self) -> None:
        pane = self.pane
        sample = pane.chosen_sample() if pane else None
        if sample is not None and self.current is not None:
            p = self.current
            pane.show_sample(sample, p.user_label, p.persona_label)

    def action_keep_sample(self) -> None:
        """The highlighted sample becomes one of the persona's few-shot examples (in its file)."""
        pane = self.pane
        sample = pane.chosen_sample() if pane else None
        if sample is None or self.current is None:
            return
        if self.form is not None and self.form.dirty:
            pane.state("✗ not kept: save the persona first (Ctrl+S), then keep the sample", "bad")
            return
        try:
            persona, n = self.services.add_example(self.current.id, sample.conversation.turns)
        except (ChatsynthError, ValueError) as err:
            pane.state(f"✗ not kept: {err}", "bad")
            return
        self.app.notify(f"Kept as example {n} of {persona.id}.yaml", markup=False)
        self.current = None
        self.reload(persona_id=persona.id)
        pane.state(f"✓ kept as example {n} of {persona.id}.yaml", "good")

    def action_move_sample(self) -> None:
        """Move the highlighted sample into the persona's playground run (written there first,
        then hidden here): Review and export see it from now on."""
        pane = self.pane
        sample = pane.chosen_sample() if pane else None
        if sample is None or self.current is None:
            return
        try:
            run_id, cid, _ = self.services.preview_move(sample.conversation.id, self.current.id)
        except ChatsynthError as err:
            pane.state(f"✗ not moved: {err}", "bad")
            return
        self.list_preview_samples()
        said = f"moved into run {run_id} as {cid}: Review and Export see it now"
        pane.state(f"✓ {said}", "good")
        self.app.notify(f"Sample {said}.", markup=False)

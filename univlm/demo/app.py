"""The Gradio page of ``univlm demo``: task picker, one or two uploads, result overlay, chat.

Design choices and sources:
- Safe by default (issue #18; RSUniVLM's ``app.py`` binds 0.0.0.0 and hard-codes CUDA): the server
  binds 127.0.0.1 unless told otherwise, never opens a share link unless asked, caps uploads
  (Gradio's ``max_file_size`` plus our own check) and shows every bad input as a line in the page.
- No network: analytics and the version check are off (``analytics_enabled=False`` and
  ``GRADIO_ANALYTICS_ENABLED``), server-side rendering and the MCP server are off, and the default
  theme's fonts are bundled with Gradio, so the page loads on an offline machine.
- One model, one request at a time: every event that runs the model shares one concurrency group
  of size 1, because a ``Predictor`` (and the CPU) is not meant to serve two answers at once.
- Uploads are ``gr.File`` slots rather than ``gr.Image``: the browser cannot show a TIFF and
  ``gr.Image`` decodes the file before our handler runs, which turns a corrupt file into a
  Gradio error instead of our message. A preview of the decoded image is shown next to them.
- The chat goes through :meth:`~univlm.inference.Predictor.predict` with ``history``, exactly as
  ``univlm chat`` does, so a chat turn is routed by its own tag.
- With the ``geo`` extra, a GeoTIFF upload with a CRS runs tiled (:mod:`univlm.demo.geo`) and the
  page offers its GeoJSON and label GeoTIFF for download.
- Gradio is imported inside functions (it is the optional ``demo`` extra).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from univlm.demo.geo import geo_available, is_geo_scene, quicklook, run_scene
from univlm.demo.tasks import TASKS, DemoInputError, build_prompts, device_note, load_upload, run_prompts

logger = logging.getLogger(__name__)

DEMO_HINT = "the web demo needs the optional 'demo' extra: pip install univlm[demo]"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 50
UPLOAD_TYPES = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"]
_MODEL_GROUP = "univlm-model"  # concurrency_id shared by every event that runs the model


class DemoDependencyError(ImportError):
    """Gradio is missing; the message names ``pip install univlm[demo]``."""


def import_gradio() -> Any:
    """Import Gradio with analytics off, or raise :class:`DemoDependencyError` naming the extra."""
    # Read by Gradio at import and launch time; set before the import so no analytics or version
    # request ever leaves the machine (an explicit user setting wins).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as err:
        raise DemoDependencyError(f"{DEMO_HINT} ({err})") from err
    return gradio


def _error(message: str) -> str:
    return f"**Error:** {message}"


def _images(task: str, first: str | None, second: str | None, max_bytes: int) -> list[Any]:
    images = [load_upload(first, max_bytes, "image")]
    if TASKS[task].images == 2:
        images.append(load_upload(second, max_bytes, "second image"))
    return images


def build_demo(predictor: Any, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, title: str = "univlm demo") -> Any:
    """The demo page around one predictor.

    Args:
        predictor: A loaded :class:`~univlm.inference.Predictor`.
        max_upload_mb: Largest accepted upload, in MB.
        title: Page title.

    Returns:
        A ``gradio.Blocks`` (not launched).

    Raises:
        DemoDependencyError: If Gradio is not installed.
    """
    gr = import_gradio()
    import torch  # heavy; only for the CUDA check of the device note

    max_bytes = int(max_upload_mb * 2**20)
    note = device_note(dict(predictor.info()), torch.cuda.is_available())
    first_task = "grounding"
    geo = geo_available()  # GeoTIFF scenes and their downloads need the optional geo extra

    def on_task(task: str) -> tuple[Any, Any, str]:
        spec = TASKS[task]
        text = gr.update(label=spec.input_label or "input", value=spec.default, visible=bool(spec.input_label))
        return text, gr.update(visible=spec.images == 2), build_prompts(task, spec.default)

    def on_text(task: str, text: str) -> tuple[str, Any]:
        try:
            # Leave the status alone: it may be telling the user about a bad upload.
            return build_prompts(task, text), gr.update()
        except DemoInputError as err:
            return "", _error(str(err))

    def on_upload(path: str | None, what: str) -> tuple[Any, str]:
        if not path:
            return None, ""
        try:
            if geo and is_geo_scene(path):
                hint = "GeoTIFF scene: one-image tasks run tiled and offer GeoJSON / GeoTIFF downloads"
                return quicklook(path), hint
            return load_upload(path, max_bytes, what), ""
        except DemoInputError as err:
            return None, _error(str(err))

    def on_run(
        task: str, first: str | None, second: str | None, prompt: str
    ) -> tuple[Any, str, str, str, str, list[str] | None]:
        prompts = [line.strip() for line in prompt.splitlines() if line.strip()]
        files = None
        try:
            if geo and TASKS[task].images == 1 and is_geo_scene(first):
                view = run_scene(predictor, first, prompts)
                files = view.files
            else:
                view = run_prompts(predictor, _images(task, first, second, max_bytes), prompts)
        except DemoInputError as err:
            return None, "", "", "", _error(str(err)), None
        except (ValueError, RuntimeError) as err:
            # A prompt the processor rejects (e.g. image placeholders that do not match the uploads).
            logger.warning("demo request failed: %s", err)
            return None, "", "", "", _error(f"the model could not answer: {err}"), None
        return view.overlay, view.boxes, view.answer, view.problems, f"Done: {view.status}", files

    def on_chat(
        message: str,
        pairs: list[tuple[str, str]],
        messages: list[dict[str, str]],
        task: str,
        first: str | None,
        second: str | None,
    ) -> tuple[list[dict[str, str]], list[tuple[str, str]], str, str]:
        message = message.strip()
        if not message:
            return messages, pairs, "", ""
        try:
            images = _images(task, first, second, max_bytes)
            result = predictor.predict(images, message, history=pairs)
        except DemoInputError as err:
            return messages, pairs, message, _error(str(err))
        except (ValueError, RuntimeError) as err:
            logger.warning("demo chat turn failed: %s", err)
            return messages, pairs, message, _error(f"the model could not answer: {err}")
        status = "" if result.task else "Note: no task tag ([VG], [SEG], [CAP], ...); the default expert answered."
        if result.problems:
            status += " Problems: " + "; ".join(result.problems)
        answer = [{"role": "user", "content": message}, {"role": "assistant", "content": result.text}]
        return [*messages, *answer], [*pairs, (message, result.text)], "", status.strip()

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        grid = predictor.grid
        gr.Markdown(f"# {title}\nThe model answers in text: boxes on a 0..100 grid, masks as {grid}x{grid} R-RLE.")
        gr.Markdown(note, elem_id="device-note")
        pairs = gr.State([])
        with gr.Row():
            with gr.Column():
                task = gr.Radio(list(TASKS), value=first_task, label="Task", elem_id="task")
                spec = TASKS[first_task]
                text = gr.Textbox(label=spec.input_label, value=spec.default, elem_id="task-input")
                with gr.Row():
                    first = gr.File(label="Image", file_types=UPLOAD_TYPES, type="filepath", elem_id="image1")
                    second = gr.File(
                        label="Second image (after)", file_types=UPLOAD_TYPES, type="filepath",
                        visible=spec.images == 2, elem_id="image2",
                    )
                with gr.Row():
                    preview1 = gr.Image(label="Image preview", type="pil", interactive=False, format="png", height=200)
                    preview2 = gr.Image(label="Second preview", type="pil", interactive=False, format="png", height=200)
                with gr.Accordion("Advanced: the tagged prompt (one per line; edit to ask anything)", open=True):
                    prompt = gr.Textbox(
                        value=build_prompts(first_task, spec.default), lines=3, show_label=False, elem_id="prompt"
                    )
                run = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column():
                status = gr.Markdown(elem_id="status")
                overlay = gr.Image(label="Result", type="pil", interactive=False, format="png", elem_id="overlay")
                boxes = gr.Textbox(label="Boxes", lines=2, elem_id="boxes")
                answer = gr.Textbox(label="Raw answer", lines=4, elem_id="answer")
                problems = gr.Textbox(label="Codec problems", lines=2, elem_id="problems")
                downloads = gr.File(
                    label="Downloads (GeoJSON / label GeoTIFF of a GeoTIFF scene)", file_count="multiple",
                    interactive=False, visible=geo, elem_id="downloads",
                )
        with gr.Accordion("Chat (multi-turn, same images; start each turn with a tag)", open=False):
            chatbot = gr.Chatbot(elem_id="chat", height=300)
            with gr.Row():
                message = gr.Textbox(placeholder="[VG] the largest building", show_label=False, scale=4, elem_id="chat-input")
                send = gr.Button("Send", scale=1, elem_id="chat-send")
                reset = gr.Button("Reset", scale=1, elem_id="chat-reset")

        task.change(on_task, [task], [text, second, prompt])
        text.change(on_text, [task, text], [prompt, status])
        first.change(lambda p: on_upload(p, "image"), [first], [preview1, status])
        second.change(lambda p: on_upload(p, "second image"), [second], [preview2, status])
        run.click(
            on_run, [task, first, second, prompt], [overlay, boxes, answer, problems, status, downloads],
            concurrency_limit=1, concurrency_id=_MODEL_GROUP,
        )
        chat_inputs = [message, pairs, chatbot, task, first, second]
        chat_outputs = [chatbot, pairs, message, status]
        for trigger in (send.click, message.submit):
            trigger(on_chat, chat_inputs, chat_outputs, concurrency_limit=1, concurrency_id=_MODEL_GROUP)
        reset.click(lambda: ([], [], ""), None, [chatbot, pairs, status])
    return demo


def launch(
    demo: Any,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    share: bool = False,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    block: bool = True,
    quiet: bool = False,
) -> str:
    """Serve the page.

    Args:
        demo: From :func:`build_demo`.
        host: Bind address (127.0.0.1: this machine only).
        port: TCP port.
        share: Open a public Gradio share link (off unless asked).
        max_upload_mb: Uploads over this are refused by the server.
        block: Serve until interrupted; False returns once the server runs (tests).
        quiet: Do not print Gradio's banner.

    Returns:
        The local URL.
    """
    _app, url, _share_url = demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=int(max_upload_mb * 2**20),  # bytes: Gradio's "<n>mb" strings take integers only
        prevent_thread_lock=not block,
        quiet=quiet,
        ssr_mode=False,
        mcp_server=False,
        show_error=False,
        footer_links=[],
    )
    return url


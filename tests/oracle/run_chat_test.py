#!/usr/bin/env python3
"""`tmac run -i`, the interactive chat, driven through pipes.

Usage: run_chat_test.py --tmac TMAC --models DIR (../shared/models)
SmolLM2-135M-Instruct comes from $TMAC_SMOLLM2, default ~/.cache/tmac/models/SmolLM2-135M-Instruct.Q4_1.gguf.

  - two greedy turns on SmolLM2 give the replies a one-shot greedy `tmac run` gives on the same
    conversation written out by the ChatML rules (here in Python), so feeding only each turn's new
    tokens into the kept KV cache changes nothing;
  - Ctrl-C (SIGINT) during a reply stops it and the prompt comes back; during the evaluation of a
    long message it stops within a pass and drops the message (the next answer is the one of a
    conversation without it); at the prompt, or twice, it ends the chat promptly with status 0 and
    the speed summary;
  - Ctrl-C during a one-shot run's prompt or generation ends it with the summary and status 130;
  - a model without a chat template, or an unknown --chat-template, is refused with a message
    naming --chat-template / the known formats;
  - empty lines and invalid UTF-8 are taken without a crash;
  - streamed output never splits a UTF-8 character between two writes.
The script fails, rather than skip, when a model is missing: scripts/setup.sh fetches SmolLM2.
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

TMAC = ""
SMOLLM = Path()
STORIES = Path()
TIMEOUT = 120  # seconds any one run may take on a loaded 2-core machine
# About 2000 tokens: in passes of --batch 8 its evaluation takes well over ten seconds here, and
# minutes on a loaded machine.
LONG_TEXT = "The quick brown fox jumps over the lazy dog. " * 200


def chatml(messages: list[tuple[str, str]]) -> str:
    """The ChatML prompt for (role, content) messages, ending with the opening of the assistant's turn."""
    return "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages) + \
        "<|im_start|>assistant\n"


def one_shot(prompt: str, n_predict: int) -> str:
    """The text a greedy one-shot `tmac run` generates after `prompt` (it prints the prompt first)."""
    run = subprocess.run([TMAC, "run", "-m", str(SMOLLM), "-p", prompt, "-n", str(n_predict), "--temp", "0"],
                         capture_output=True, timeout=TIMEOUT, check=True)
    out = run.stdout.decode()
    assert out.startswith(prompt) and out.endswith("\n"), out
    return out[len(prompt):-1]


class Running:
    """A tmac process whose stdout and stderr are collected by threads as they arrive, stdout in
    the chunks its reads returned."""

    def __init__(self, args: list[str]):
        self.process = subprocess.Popen([TMAC, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.chunks: list[bytes] = []
        self.err = bytearray()
        self.lock = threading.Lock()
        # Daemon threads: a failed test must not leave the interpreter waiting on a live pipe.
        self.threads = [threading.Thread(target=self._collect, args=(self.process.stdout, self.chunks.append),
                                         daemon=True),
                        threading.Thread(target=self._collect, args=(self.process.stderr, self.err.extend),
                                         daemon=True)]
        for thread in self.threads:
            thread.start()

    def _collect(self, pipe, add) -> None:
        while chunk := os.read(pipe.fileno(), 65536):
            with self.lock:
                add(chunk)

    @property
    def out(self) -> bytes:
        with self.lock:
            return b"".join(self.chunks)

    def stderr_text(self) -> str:
        with self.lock:
            return self.err.decode(errors="replace")

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"tmac exited ({self.process.returncode}) before {what}; "
                                     f"stderr: {self.stderr_text()}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"timed out waiting for {what}; stderr: {self.stderr_text()}")
            time.sleep(0.01)

    def prompts(self) -> int:
        return self.stderr_text().count("> ")

    def cpu_seconds(self) -> float:
        """The user and system time the process (all its threads) has taken so far, from Linux's /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def send(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def kill(self) -> None:
        """Ends the process if a test left it running (after a failure)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def finish(self, timeout: float = TIMEOUT) -> int:
        if not self.process.stdin.closed:
            self.process.stdin.close()
        code = self.process.wait(timeout=timeout)
        for thread in self.threads:
            thread.join()
        self.process.stdout.close()
        self.process.stderr.close()
        return code


class ChatTest(unittest.TestCase):
    def chat(self, *args: str) -> Running:
        run = Running(["run", "-m", str(SMOLLM), "-i", *args])
        self.addCleanup(run.kill)
        return run

    def assert_summary(self, run: Running) -> None:
        err = run.stderr_text()
        for line in ("load: ", "prompt: ", "generation: ", "peak RSS: "):
            self.assertIn(line, err)

    def test_two_turns_match_the_one_shot_prompt(self):
        questions = ["What is the capital of France?", "And of Germany?"]
        run = self.chat("--temp", "0", "-n", "16")
        run.send("".join(q + "\n" for q in questions).encode())
        self.assertEqual(run.finish(), 0, run.stderr_text())
        self.assert_summary(run)

        messages: list[tuple[str, str]] = []
        expected = ""
        for question in questions:
            messages.append(("user", question))
            reply = one_shot(chatml(messages), 16)
            messages.append(("assistant", reply))
            expected += reply + "\n"
        self.assertTrue(all(content for _, content in messages))
        self.assertEqual(run.out.decode(), expected)

    def test_system_message(self):
        messages = [("system", "You are a pirate."), ("user", "Who are you?")]
        run = self.chat("--temp", "0", "-n", "12", "--system", messages[0][1])
        run.send((messages[1][1] + "\n").encode())
        self.assertEqual(run.finish(), 0, run.stderr_text())
        self.assertEqual(run.out.decode(), one_shot(chatml(messages), 12) + "\n")

    def test_ctrl_c_stops_the_reply_and_the_chat_goes_on(self):
        questions = ["Count from 1 to 1000, one number per line.", "Thanks!"]
        run = self.chat("--temp", "0", "-n", "300", "-t", "2")
        run.send((questions[0] + "\n").encode())
        run.wait_until(lambda: len(run.out) > 0, "the reply started")
        run.process.send_signal(signal.SIGINT)
        # stdout and stderr arrive on separate pipes: the cut reply's final newline may be read
        # after the prompt that follows it, so wait for both.
        run.wait_until(lambda: run.prompts() >= 2 and run.out.endswith(b"\n"),
                       "the prompt, after the cut reply and its newline")
        cut_reply = run.out[:-1].decode()
        # The cut reply stays in the conversation: the next answer is the one-shot answer to the
        # conversation with it. Then EOF ends the chat.
        run.send((questions[1] + "\n").encode())
        self.assertEqual(run.finish(), 0, run.stderr_text())
        self.assert_summary(run)
        generated = int(run.stderr_text().split("generation: ")[1].split()[0])
        self.assertLess(generated, 2 * 300)
        expected = one_shot(chatml([("user", questions[0]), ("assistant", cut_reply), ("user", questions[1])]), 300)
        self.assertEqual(run.out.decode(), cut_reply + "\n" + expected + "\n")

    def test_ctrl_c_at_the_prompt_ends_the_chat(self):
        run = self.chat("-t", "2")  # the Ctrl-C must reach the thread waiting for stdin, not a worker
        run.wait_until(lambda: run.prompts() >= 1, "the prompt")
        start = time.monotonic()
        run.process.send_signal(signal.SIGINT)
        code = run.process.wait(timeout=TIMEOUT)
        elapsed = time.monotonic() - start
        self.assertEqual(run.finish(), 0, run.stderr_text())
        self.assertEqual(code, 0)
        self.assertLess(elapsed, 5.0)
        self.assert_summary(run)
        self.assertEqual(run.out, b"")

    def test_two_ctrl_c_end_the_chat(self):
        run = self.chat("--temp", "0", "-n", "300")
        run.send(b"Count from 1 to 1000, one number per line.\n")
        run.wait_until(lambda: len(run.out) > 0, "the reply started")
        # Apart as a person's presses are: a signal sent while the last is still pending merges
        # with it. The second lands during the reply or at the prompt; either ends the chat.
        run.process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        run.process.send_signal(signal.SIGINT)
        # stdin stays open: only the second Ctrl-C can end the chat.
        self.assertEqual(run.process.wait(timeout=TIMEOUT), 0, run.stderr_text())
        self.assertEqual(run.finish(), 0)
        self.assert_summary(run)

    def interrupt_a_long_message(self, run: Running) -> None:
        """Sends LONG_TEXT as a message and Ctrl-C while it is evaluated; the chat must be waiting
        at its prompt."""
        # Nothing is printed when the evaluation begins, but it shows as CPU time: waiting at the
        # prompt and reading the line take next to none.
        idle = run.cpu_seconds()
        run.send((LONG_TEXT + "\n").encode())
        run.wait_until(lambda: run.cpu_seconds() > idle + 0.3, "the message's evaluation")
        run.process.send_signal(signal.SIGINT)

    def test_ctrl_c_during_a_long_message_drops_it_and_the_chat_goes_on(self):
        # A first turn, so that the cache holds a reply whose last token is not evaluated yet (a
        # reply cut by -n, whose last token matters); then an open question, whose long answer
        # depends on all that precedes it (a factual one was answered the same with the
        # interrupted message's passes left in the cache, or with that last token lost).
        questions = ["Tell me about the moon.", "Write a poem about the sea."]
        run = self.chat("--temp", "0", "-n", "48", "--batch", "8", "-t", "2")
        run.send((questions[0] + "\n").encode())
        run.wait_until(lambda: run.prompts() >= 2 and run.out.endswith(b"\n"), "the first reply")
        first_reply = run.out[:-1].decode()
        self.interrupt_a_long_message(run)
        run.wait_until(lambda: run.prompts() >= 3 and "the message is dropped" in run.stderr_text(),
                       "the notice and the next prompt")
        self.assertEqual(run.out.decode(), first_reply + "\n")  # a dropped message has no reply
        run.send((questions[1] + "\n").encode())
        self.assertEqual(run.finish(), 0, run.stderr_text())
        self.assert_summary(run)
        # Stopped after a few passes, not at the end of the message (the summary counts the
        # tokens evaluated).
        prompt_tokens = int(run.stderr_text().split("prompt: ")[1].split()[0])
        self.assertLess(prompt_tokens, 1500)
        # The cache went back to before the message: the answer is the one of the conversation
        # without it.
        conversation = [("user", questions[0]), ("assistant", first_reply), ("user", questions[1])]
        expected = one_shot(chatml(conversation), 48)
        self.assertEqual(run.out.decode(), first_reply + "\n" + expected + "\n")

    def test_two_ctrl_c_during_a_long_message_end_the_chat(self):
        run = self.chat("--batch", "8")
        run.wait_until(lambda: run.prompts() >= 1, "the prompt")
        self.interrupt_a_long_message(run)
        time.sleep(0.2)  # apart, as in test_two_ctrl_c_end_the_chat
        run.process.send_signal(signal.SIGINT)
        # stdin stays open: only the second Ctrl-C can end the chat.
        self.assertEqual(run.process.wait(timeout=TIMEOUT), 0, run.stderr_text())
        self.assertEqual(run.finish(), 0)
        self.assert_summary(run)
        self.assertEqual(run.out, b"")

    def test_model_without_chat_template_is_refused(self):
        run = subprocess.run([TMAC, "run", "-m", str(STORIES), "-i"], input=b"hi\n", capture_output=True,
                             timeout=TIMEOUT)
        self.assertNotEqual(run.returncode, 0)
        err = run.stderr.decode()
        self.assertIn("has no chat template", err)
        self.assertIn("--chat-template", err)
        # Naming a format makes it usable.
        run = subprocess.run([TMAC, "run", "-m", str(STORIES), "-i", "--chat-template", "chatml", "-n", "8"],
                             input=b"hi\n", capture_output=True, timeout=TIMEOUT)
        self.assertEqual(run.returncode, 0, run.stderr.decode())

    def test_unknown_chat_template_is_refused(self):
        run = subprocess.run([TMAC, "run", "-m", str(SMOLLM), "-i", "--chat-template", "no-such-format"],
                             input=b"hi\n", capture_output=True, timeout=TIMEOUT)
        self.assertNotEqual(run.returncode, 0)
        err = run.stderr.decode()
        self.assertIn("no-such-format", err)
        self.assertIn("chatml", err)  # the known names are listed

    def test_empty_lines_and_invalid_utf8(self):
        run = self.chat("--temp", "0", "-n", "8")
        run.send(b"\n\r\n\xff\xfe bad \xc3\n\n\xe2\x82")  # the last line has no line break
        self.assertEqual(run.finish(), 0, run.stderr_text())
        self.assert_summary(run)
        # Five lines read, two of them with text: five prompts and one more before EOF.
        self.assertEqual(run.prompts(), 6)
        self.assertGreaterEqual(run.out.count(b"\n"), 2)  # two replies

    def test_context_overflow_ends_the_chat(self):
        run = self.chat("--temp", "0", "-n", "4", "--ctx", "40")
        run.send(b"Hello there, how are you today?\n" * 4)
        self.assertEqual(run.finish(), 0, run.stderr_text())
        self.assertIn("ending the chat", run.stderr_text())
        self.assert_summary(run)

    def test_streamed_output_keeps_utf8_characters_whole(self):
        # Byte-level BPE writes many CJK characters and emoji as several byte tokens.
        prompt = chatml([("user", "Write a sentence in Chinese and one in Japanese, with emoji.")])
        run = Running(["run", "-m", str(SMOLLM), "-p", prompt, "-n", "80", "--temp", "0"])
        self.assertEqual(run.finish(), 0, run.stderr_text())
        text = run.out.decode()  # the whole output is valid UTF-8 ...
        self.assertTrue(any(ord(c) > 0x7FF for c in text), "the reply should contain 3- and 4-byte characters")
        for chunk in run.chunks:  # ... and so is every piece the pipe delivered
            chunk.decode()


class OneShotTest(unittest.TestCase):
    def interrupted(self, prompt: str, started, what: str) -> Running:
        """A greedy one-shot run on SmolLM2 sent Ctrl-C once `started(run)`; checks that it ends
        promptly with status 130, the prompt and a line break on stdout, and the summary."""
        run = Running(["run", "-m", str(SMOLLM), "-p", prompt, "-n", "500", "--temp", "0", "--batch", "8"])
        self.addCleanup(run.kill)
        run.wait_until(lambda: started(run), what)
        run.process.send_signal(signal.SIGINT)
        self.assertEqual(run.finish(), 130, run.stderr_text())
        out = run.out.decode()
        self.assertTrue(out.startswith(prompt) and out.endswith("\n"), out)
        err = run.stderr_text()
        for line in ("load: ", "prompt: ", "generation: ", "peak RSS: "):
            self.assertIn(line, err)
        return run

    def test_ctrl_c_during_the_prompt_ends_the_run_with_status_130(self):
        # The prompt is printed once Ctrl-C is counted, just before its evaluation starts.
        run = self.interrupted(LONG_TEXT, lambda r: len(r.out) >= len(LONG_TEXT), "the prompt printed")
        self.assertEqual(run.out.decode(), LONG_TEXT + "\n")  # nothing generated
        self.assertIn("generation: 0 tokens", run.stderr_text())

    def test_ctrl_c_during_the_generation_ends_the_run_with_status_130(self):
        prompt = "Count from 1 to 1000:"
        run = self.interrupted(prompt, lambda r: len(r.out) > len(prompt) + 20, "the generation")
        generated = int(run.stderr_text().split("generation: ")[1].split()[0])
        self.assertLess(generated, 500)

    def test_stories260k_greedy_reference(self):
        reference = (STORIES.parent / "greedy-reference.txt").read_text().splitlines()
        run = subprocess.run([TMAC, "run", "-m", str(STORIES), "-p", "Once upon a time", "-n", "124", "--temp", "0"],
                             capture_output=True, timeout=TIMEOUT, check=True)
        self.assertEqual(run.stdout.decode(), "\n".join(reference[1:3]) + "\n")


def main() -> None:
    global TMAC, SMOLLM, STORIES
    parser = argparse.ArgumentParser()
    parser.add_argument("--tmac", required=True)
    parser.add_argument("--models", required=True, type=Path, help="../shared/models")
    args, rest = parser.parse_known_args()
    TMAC, STORIES = args.tmac, args.models / "stories260K" / "stories260K.gguf"
    SMOLLM = Path(os.environ.get("TMAC_SMOLLM2",
                                 Path.home() / ".cache/tmac/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    for path in (SMOLLM, STORIES):
        if not path.exists():
            sys.exit(f"FAIL: {path} is missing; run scripts/setup.sh, which fetches SmolLM2 into ~/.cache/tmac/models")
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs the ```console blocks of README.md as a reader would type them.

Started by integration/scenarios/readme.sh, which makes the machines (network
namespaces) and cleans up; see there for the test bed.

What is run: every ```console block, in README order, as one session (a
block continues where the one before it left off: files, repos, mounts and
background jobs carry over). In a block, a line `$ CMD` is a command and the
lines up to the next `$ ` line are its output (stdout and stderr together, as
a terminal shows them); its stdin is /dev/null. Each machine (A, B, ...) is
one bash shell that lives for the whole run, in $HOME = /root (a fresh,
empty directory bound there), cwd $HOME, a fresh /tmp, p2pfs first in PATH
(~/.cargo/bin, where `cargo install` puts it), no TERM (no colours, no
progress bars).

Which machine: a command ending in a comment `# on B` (or `# on B: why`)
runs on B, and so do the ones after it in the same block, until another
`# on X`; a block starts on A.

Background jobs (`p2pfs mount ~/net &`) print while the next commands run.
After each command the runner waits (up to WAIT_S seconds) while what it got
so far is the start of the shown output, so the lines a mount prints when it
is up are the output of the `&` command, as on a terminal.

Wildcards, the whole convention (README.md, Development, says it too):
  - `…` (one character, U+2026) in shown output matches any text within the
    line (also none): `date: …`, `peer ID 12D3KooW…`.
  - A peer ID (12D3KooW + 44 base58 characters) or an IPNS name (k51qzi5uqu5
    + 51 base36 characters) shown in full is a name for the value printed
    there: where it first appears in output it matches any peer ID (or IPNS
    name) and is bound to it; after that the same shown value must be that
    same value (and one value must not appear under two shown names), and
    in commands it is replaced by it, as a reader types their own peer ID.
  - Trailing spaces are ignored; nothing else is.
Not shown, not compared: the job messages of an interactive shell
(`[1] 1234`, `Done`); the runner's shells are not interactive.
Skipping: an HTML comment `<!-- readme-test: skip REASON -->` on the line
right before the ``` fence skips the block; the runner prints the reason.

Exit status 0 when every command printed what README shows; otherwise the
first mismatch (README line, machine, command, shown vs printed) and 1.
--record prints every block as it ran (for regenerating README output) and
does not stop at a mismatch.
"""

import argparse
import os
import re
import select
import shlex
import subprocess
import sys
import time

PEER = r"12D3KooW[1-9A-HJ-NP-Za-km-z]{44}"
IPNS = r"k51qzi5uqu5[0-9a-z]{51}"
TOKEN = re.compile(f"{PEER}|{IPNS}")
SPLIT = re.compile(f"({PEER}|{IPNS}|…)")
MACHINE = re.compile(r"#\s*on\s+([A-Z])\b")
DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->\s*$")
WAIT_S = float(os.environ.get("README_WAIT_S", "30"))  # for output a background job prints after its command returned
CMD_TIMEOUT_S = 120  # a command that runs longer has hung


class Command:
    def __init__(self, line, text, machine):
        self.line = line
        self.text = text
        self.machine = machine
        self.expected = []


class Block:
    def __init__(self, line, skip):
        self.line = line
        self.skip = skip
        self.commands = []


def parse(path):
    """The ```console blocks of a Markdown file, with their commands."""
    blocks, block, prev = [], None, ""
    for n, raw in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if block is None:
            if raw.strip() == "```console":
                d = DIRECTIVE.match(prev.strip())
                skip = None
                if d:
                    if d.group(1) != "skip":
                        sys.exit(f"{path}:{n - 1}: unknown readme-test directive {d.group(1)!r}")
                    skip = d.group(2) or "no reason given"
                block = Block(n, skip)
                machine = "A"
            prev = raw
            continue
        if raw.strip() == "```":
            blocks.append(block)
            block = None
        elif raw.startswith("$ "):
            m = MACHINE.search(raw)
            machine = m.group(1) if m else machine
            block.commands.append(Command(n, raw[2:], machine))
        elif not block.commands:
            sys.exit(f"{path}:{n}: output before the first `$ ` command of the block")
        else:
            block.commands[-1].expected.append(raw.rstrip())
        prev = raw
    if block is not None:
        sys.exit(f"{path}:{block.line}: ```console block never closed")
    return blocks


class Bindings:
    """Shown peer IDs and IPNS names -> the values printed in their place."""

    def __init__(self):
        self.value = {}

    def line_regex(self, shown, fresh):
        """A regex for one shown line; fresh maps group names to shown tokens."""
        out = []
        for part in SPLIT.split(shown):
            if part == "…":
                out.append(".*")
            elif TOKEN.fullmatch(part):
                if part in self.value:
                    out.append(re.escape(self.value[part]))
                elif part in fresh.values():
                    g = next(k for k, v in fresh.items() if v == part)
                    out.append(f"(?P={g})")
                else:
                    g = f"t{len(fresh)}"
                    fresh[g] = part
                    out.append(f"(?P<{g}>{PEER if part.startswith('12D3') else IPNS})")
            else:
                out.append(re.escape(part))
        return "".join(out)

    def match(self, shown, got):
        """Whether got lines match the shown ones (same count); binds only on
        success. Returns None on a match, else the index of the first bad
        line (or a message for a value shown under two names)."""
        work = Bindings()
        work.value = dict(self.value)
        bad = work.match_lines(shown, got)
        if bad is None:
            self.value = work.value
        return bad

    def match_lines(self, shown, got):
        new = {}
        for i, (s, g) in enumerate(zip(shown, got)):
            fresh = {}
            m = re.fullmatch(self.line_regex(s.rstrip(), fresh), g.rstrip())
            if not m:
                return i
            for grp, tok in fresh.items():
                val = m.group(grp)
                other = [t for t, v in list(self.value.items()) + list(new.items()) if v == val and t != tok]
                if other:
                    return f"line {i + 1}: {tok} is {val}, which README showed as {other[0]} before"
                new[tok] = val
            # Later lines of this output see this line's bindings.
            self.value.update(new)
        if len(shown) != len(got):
            return min(len(shown), len(got))
        return None

    def guess(self, shown, got):
        """--record: bind tokens pairwise by position where lines differ."""
        for s, g in zip(shown, got):
            for a, b in zip(TOKEN.findall(s), TOKEN.findall(g)):
                if a not in self.value and a[:4] == b[:4]:
                    self.value[a] = b

    def substitute(self, text):
        def one(m):
            if m.group(0) not in self.value:
                raise KeyError(m.group(0))
            return self.value[m.group(0)]

        return TOKEN.sub(one, text)


class Machine:
    """One bash shell on one test-bed machine, fed commands one at a time."""

    def __init__(self, name, argv):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.pending = b""  # printed after the last command's output was taken
        self.count = 0

    def read(self, timeout):
        """More output, or b"" after timeout; EOF is an error (the shell died)."""
        r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, timeout))
        if not r:
            return b""
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            raise RuntimeError(f"the shell of machine {self.name} exited (status {self.proc.wait()})")
        return chunk

    def run(self, text):
        """Runs one command; returns (output so far, status) or (output, None)
        when it did not finish in CMD_TIMEOUT_S. Its stdin is /dev/null, so
        it cannot eat the commands that follow."""
        self.count += 1
        mark = f"\x1eRT{self.count} ".encode()
        script = f"{{\n{text}\n}} </dev/null\nprintf '\\036RT{self.count} %d\\n' $?\n"
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        buf, self.pending = self.pending, b""
        deadline = time.monotonic() + CMD_TIMEOUT_S
        while mark not in buf:
            if time.monotonic() > deadline:
                return buf, None
            buf += self.read(deadline - time.monotonic())
        out, rest = buf.split(mark, 1)
        status, rest = rest.split(b"\n", 1) if b"\n" in rest else (rest, b"")
        self.pending = rest
        return out, int(status)

    def more(self, timeout):
        """Background output that arrives within timeout (taken from pending)."""
        chunk = self.pending or self.read(timeout)
        self.pending = b""
        return chunk

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass


def lines_of(raw):
    text = raw.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines, not text.endswith("\n") and text != ""


def check(machine, cmd, bindings):
    """Runs cmd; returns (got lines, status, None, None) on a match, else
    with a reason and the index of the first line that differs (or None)."""
    try:
        text = bindings.substitute(cmd.text)
    except KeyError as e:
        return [], 0, f"the command uses {e.args[0]}, which no earlier output showed", None
    syntax = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
    if syntax.returncode != 0:
        # Sent anyway, it would end the machine's shell.
        return [], 0, f"not a shell command a reader can type: {syntax.stderr.strip()}", None
    raw, status = machine.run(text)
    if status is None:
        return lines_of(raw)[0], None, f"did not finish within {CMD_TIMEOUT_S} s", None
    deadline = time.monotonic() + WAIT_S
    while True:
        got, partial = lines_of(raw)
        # Whole lines that match so far and fewer than shown: a background
        # job may still be printing. Anything else is final.
        whole = got[:-1] if partial else got
        probe = Bindings()
        probe.value = dict(bindings.value)
        waiting = len(whole) < len(cmd.expected) and probe.match(cmd.expected[:len(whole)], whole) is None
        if not waiting or time.monotonic() > deadline:
            break
        raw += machine.more(min(0.2, deadline - time.monotonic()))
    bad = bindings.match(cmd.expected, got)
    if bad is None:
        return got, status, None, None
    if isinstance(bad, str):
        return got, status, bad, None
    return got, status, f"first difference at output line {bad + 1} (marked >)", bad


def report(readme, cmd, got, status, why, at):
    err = sys.stderr
    print(f"FAIL readme: {readme}:{cmd.line} on {cmd.machine}: $ {cmd.text}", file=err)
    print(f"  {why}" + ("" if status in (0, None) else f" (exit status {status})"), file=err)
    for title, lines in (("README shows", cmd.expected), ("it printed", got)):
        print(f"  {title}:", file=err)
        for i, line in enumerate(lines or ["(no output)"]):
            print(f"    {'>' if i == at else '|'} {line}", file=err)
        if at is not None and at == len(lines):
            print("    > (no more lines)", file=err)


def run_block(args, block, machines, bindings):
    """Runs one block; returns True when every command printed what it shows."""
    ok = True
    for cmd in block.commands:
        if cmd.machine not in args.machines.split(","):
            print(f"FAIL readme: {args.readme}:{cmd.line}: machine {cmd.machine}: the test bed has "
                  f"{args.machines}", file=sys.stderr)
            return False
        if cmd.machine not in machines:
            machines[cmd.machine] = Machine(cmd.machine, machine_argv(args, cmd.machine))
        try:
            got, status, why, at = check(machines[cmd.machine], cmd, bindings)
        except RuntimeError as e:
            report(args.readme, cmd, [], None, str(e), None)
            return False
        if not args.record:
            if why:
                report(args.readme, cmd, got, status, why, at)
                return False
            continue
        print(f"$ {cmd.text}")
        for line in got:
            print(line)
        if why:
            print(f"  ^^^ differs from README line {cmd.line}: {why}")
            bindings.guess(cmd.expected, got)
            ok = False
    return ok


def run(args):
    blocks = parse(args.readme)
    machines, bindings, failed = {}, Bindings(), False
    t0 = time.monotonic()
    try:
        for block in blocks:
            where = f"{args.readme}:{block.line}"
            if block.skip:
                print(f"SKIP {where} ({len(block.commands)} commands): {block.skip}")
                continue
            if args.record:
                print(f"--- {where}\n```console")
            ok = run_block(args, block, machines, bindings)
            failed |= not ok
            if args.record:
                print("```")
            elif not ok:
                return 1
            else:
                on = ", ".join(sorted({c.machine for c in block.commands}))
                print(f"ok {where}: {len(block.commands)} commands as shown (on {on})")
    finally:
        for m in machines.values():
            m.close()
    print(f"readme: {len(blocks)} console blocks in {time.monotonic() - t0:.0f} s")
    return 1 if failed else 0


def machine_argv(args, name):
    """The command that starts machine name's shell (made by readme.sh)."""
    return shlex.split(args.shell) + [name]


def self_test():
    """The matching rules on made-up output (run before the README's)."""
    a = "12D3KooW" + "A" * 44
    b = "12D3KooW" + "B" * 44
    x, y = "12D3KooW" + "x" * 44, "12D3KooW" + "y" * 44
    k = "k51qzi5uqu5" + "a" * 51
    bd = Bindings()
    assert bd.match(["date: …"], ["date: Fri, 04 Dec 2026 09:36:31 GMT"]) is None
    assert bd.match(["id …)"], ["id 12D3KooWzz)"]) is None
    assert bd.match(["a", "b"], ["a"]) == 1 and bd.match(["a"], ["a", "b"]) == 1
    assert bd.match(["x"], ["y"]) == 0 and bd.match(["x  "], ["x"]) is None
    assert bd.match([f"peer {a}"], [f"peer {x}"]) is None and bd.value[a] == x
    assert bd.match([f"peer {a}"], [f"peer {y}"]) == 0  # bound: must be x
    assert isinstance(bd.match([f"peer {b}"], [f"peer {x}"]), str)  # x shown as a already
    assert bd.match([f"{b} {b}"], [f"{y} {x}"]) == 0  # one name, two values
    assert bd.match([f"/ipns/{k}"], ["/ipns/k51qzi5uqu5" + "b" * 51]) is None
    assert bd.substitute(f"p2pfs swarm connect /p2p/{a}") == f"p2pfs swarm connect /p2p/{x}"
    try:
        bd.substitute(f"cat {b}")
        raise AssertionError("an unbound name was substituted")
    except KeyError:
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("readme")
    p.add_argument("--shell", required=True,
                   help="a program that, given a machine name, runs a shell on that machine (stdin: commands)")
    p.add_argument("--machines", default="A,B", help="the machines --shell can start")
    p.add_argument("--record", action="store_true", help="print each block as it ran, do not stop at a mismatch")
    self_test()
    sys.exit(run(p.parse_args()))


if __name__ == "__main__":
    main()

"""Wraps each kernel call of a generated `run` written on one line (`k_NAME::<...>(...);`) in a
timer that keeps the call's fastest time, and appends the tables the harness (main.rs) prints.
Only calls inside `run` are timed (the kernel library's own calls are left alone); a register
tile chosen per target (`{ if cfg!(...) { 32 } else ... }`) is shown as its choices (`32|16|8`).
Calls spread over several lines are not timed alone: the per-call sums then miss them, the
whole run's time does not."""
import re
import sys

src, dst, weights = sys.argv[1], sys.argv[2], sys.argv[3]


def generics(line, at):
    """The text between the `<` at `at` and its matching `>`, or None."""
    depth = 0
    for i in range(at, len(line)):
        depth += {"<": 1, ">": -1}.get(line[i], 0)
        if depth == 0:
            return line[at + 1 : i]
    return None


def label(name, gen):
    gen = re.sub(r"\{ if cfg!.*?\}\s*\}", lambda m: "|".join(re.findall(r"\{ (\d+) \}", m.group(0))), gen)
    return f"{name}<{gen}>"


out, names, in_run = [], [], False
for line in open(src).read().split("\n"):
    if line.startswith("pub fn run("):
        in_run = True
    elif line.startswith("}"):
        in_run = False
    m = re.match(r"^        (k_[a-z0-9_]+)", line)
    if in_run and m and line.rstrip().endswith(";"):
        rest = line[m.end() :]
        gen = generics(rest, 2) if rest.startswith("::<") else ""
        if gen is not None:
            i = len(names)
            names.append(label(m.group(1), gen))
            out.append(
                f"        {{ let t = std::time::Instant::now(); {line.strip()} "
                f"let e = t.elapsed().as_nanos() as u64; #[allow(unused_unsafe)] unsafe {{ if e < T[{i}] {{ T[{i}] = e; }} }} }}"
            )
            continue
    out.append(line.replace('include_bytes!("weights.bin")', f'include_bytes!("{weights}")'))
out.append(f"pub static mut T: [u64; {len(names)}] = [u64::MAX; {len(names)}];")
out.append(f"pub static NAMES: [&str; {len(names)}] = [{', '.join(repr(n).replace(chr(39), chr(34)) for n in names)}];")
open(dst, "w").write("\n".join(out))

"""Wraps each kernel call of a generated `run` written on one line (`k_NAME::<...>(...);`) in a
timer that keeps the call's fastest time, and appends the tables the harness (main.rs) prints.
Calls spread over several lines (some float kernels' arguments) are not timed alone: the
per-call sums then miss them, the whole run's time does not."""
import re
import sys

src, dst, weights = sys.argv[1], sys.argv[2], sys.argv[3]
out, names = [], []
for line in open(src).read().split("\n"):
    m = re.match(r"^        (k_[a-z0-9_]+)(?:::<(.*?)>)?\(", line)
    if m and line.rstrip().endswith(";"):
        i = len(names)
        names.append(f"{m.group(1)}<{re.sub(r'{ if cfg!.*? } }', '{..}', m.group(2) or '')}>")
        out.append(
            f"        {{ let t = std::time::Instant::now(); {line.strip()} "
            f"let e = t.elapsed().as_nanos() as u64; #[allow(unused_unsafe)] unsafe {{ if e < T[{i}] {{ T[{i}] = e; }} }} }}"
        )
    else:
        out.append(line.replace('include_bytes!("weights.bin")', f'include_bytes!("{weights}")'))
out.append(f"pub static mut T: [u64; {len(names)}] = [u64::MAX; {len(names)}];")
out.append(f"pub static NAMES: [&str; {len(names)}] = [{', '.join(repr(n).replace(chr(39), chr(34)) for n in names)}];")
open(dst, "w").write("\n".join(out))

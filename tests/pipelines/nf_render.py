"""Renders a Nextflow process's script:/stub: block as Nextflow would, for the subset of Groovy our modules use.

Nextflow cannot run offline, so the pipeline tests render each block with realistic task/meta values and run it
with bash. Supported inside a block: `[def ]name = expr` statements before the triple-quoted command, where expr
is a string literal ('...' or "..." with ${...}), a dotted name (task.ext.args, meta.id, task.accelerator.request),
`a ?: b`, `c ? a : b`, `a == b` or `a != b`; in the command, ${expr} interpolation and the escapes \\\\ and \\$. Anything else raises
ValueError, so a module that outgrows the subset fails its test rather than being rendered wrongly."""
import re

TRIPLE = '"""'


def _truthy(v):
    return v not in (None, "", 0, False) and v != [] and v != {}


def _split_top(expr, op):
    """Index of the first `op` outside quotes and ${...}, or -1."""
    depth, quote, i = 0, None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif depth == 0 and expr.startswith(op, i):
            return i
        i += 1
    return -1


def evaluate(expr, ctx):
    expr = expr.strip()
    k = _split_top(expr, "?:")
    if k >= 0:
        left = evaluate(expr[:k], ctx)
        return left if _truthy(left) else evaluate(expr[k + 2:], ctx)
    k = _split_top(expr, "?")
    if k >= 0:
        rest = expr[k + 1:]
        j = _split_top(rest, ":")
        if j < 0:
            raise ValueError(f"ternary without ':' in {expr!r}")
        return evaluate(rest[:j], ctx) if _truthy(evaluate(expr[:k], ctx)) else evaluate(rest[j + 1:], ctx)
    for op in ("==", "!="):
        k = _split_top(expr, op)
        if k >= 0:
            return (evaluate(expr[:k], ctx) == evaluate(expr[k + 2:], ctx)) == (op == "==")
    if len(expr) >= 2 and expr[0] == expr[-1] == "'":
        return expr[1:-1]
    if len(expr) >= 2 and expr[0] == expr[-1] == '"':
        return interpolate(expr[1:-1], ctx)
    if re.fullmatch(r"[A-Za-z_]\w*(\.\w+)*", expr):
        value = ctx
        for part in expr.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    raise ValueError(f"unsupported Groovy expression {expr!r}")


def _to_str(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return " ".join(_to_str(x) for x in v)
    return str(v)


def interpolate(text, ctx):
    """A Groovy GString body: ${expr}, \\$ and \\\\ escapes."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("\\", i) and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                if j >= len(text):
                    raise ValueError(f"unclosed ${{ in {text[i:i + 40]!r}")
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            out.append(_to_str(evaluate(text[i + 2:j - 1], ctx)))
            i = j
        elif text[i] == "$" and re.match(r"\$[A-Za-z_]", text[i:]):
            raise ValueError(f"bare $name in command (escape shell variables as \\$): {text[i:i + 20]!r}")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def strip_comment(line):
    k = _split_top(line, "//")
    return (line[:k] if k >= 0 else line).strip()


def section(source, label):
    """Text of `label:` (script, stub, output, input) up to the next section label or the process's end."""
    m = re.search(rf"^\s*{label}:\s*$", source, re.M)
    if not m:
        raise ValueError(f"no {label}: section")
    rest = source[m.end():]
    nxt = re.search(r"^\s*(input|output|when|script|stub|exec):\s*$", rest, re.M)
    body = rest[:nxt.start()] if nxt else rest[:rest.rstrip().rfind("}")]
    return body


def render(source, label, ctx):
    """Renders the script:/stub: section; returns (command, variables defined by the block)."""
    body = section(source, label)
    start = body.index(TRIPLE)
    end = body.index(TRIPLE, start + 3)
    scope = dict(ctx)
    for line in body[:start].splitlines():
        line = strip_comment(line)
        if not line:
            continue
        m = re.fullmatch(r"(?:def\s+)?([A-Za-z_]\w*)\s*=\s*(.+)", line)
        if not m:
            raise ValueError(f"unsupported statement {line!r}")
        scope[m.group(1)] = evaluate(m.group(2), scope)
    command = interpolate(body[start + 3:end], scope)
    lines = command.split("\n")
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:] for x in lines).strip() + "\n", scope


def outputs(source, scope):
    """Declared outputs: list of (emit, kind, value, optional), kind 'path' (a glob) or 'eval' (a command)."""
    result = []
    for line in section(source, "output").splitlines():
        line = strip_comment(line)
        if not line:
            continue
        emit = re.search(r"emit:\s*(\w+)", line)
        optional = bool(re.search(r"optional:\s*true", line))
        for kind, lit in re.findall(r"\b(path|eval)\((\"[^\"]*\"|'[^']*')", line):
            result.append((emit.group(1) if emit else None, kind, evaluate(lit, scope), optional))
    return result

"""Which files could hold a function over the line limit, without parsing C++.

clang-tidy's readability-function-size counts a function's lines as
line(end of body) - line(start of body), the body being the braces of its
compound statement (or, for a function-try-block, `try` to the last handler's
closing brace). Such a body is a brace pair written in the file, so a file in
which no brace pair (nor try/catch chain) spans more than the limit cannot
hold a function over it, and clang-tidy, which parses all of gRPC and
protobuf for each file, need not run on it.

max_body_span() answers "unbounded" whenever it cannot be sure: unbalanced
braces (preprocessor branches, a scanning surprise), or braces inside a macro
definition (a body a macro expands to). Blocks that cannot be a function
body are skipped: namespace and extern "C" blocks, class, struct, union and
enum bodies (their member functions are brace pairs of their own), and
initialisers (`= {`); every other pair counts.
Checked against clang-tidy: `code_shape.py --check-brace-spans`.
"""
import re

_LITERAL = re.compile(
    r"""(?P<raw>(?<![\w])(?:u8|u|U|L)?R"(?P<delim>[^()\\\s"]{0,16})\(.*?\)(?P=delim)")
      | (?P<str>(?<![\w])(?:u8|u|U|L)?"(?:\\.|[^"\\\n])*")
      | (?P<chr>(?<![\w'])(?:u8|u|U|L)?'(?:\\.|[^'\\\n])+')
      | (?P<line_comment>//[^\n]*)
      | (?P<block_comment>/\*.*?\*/)
      | (?P<pp>^[ \t]*\#(?:[^\n\\]|\\.)*)""",
    re.S | re.M | re.X)
# A head (the text since the last ';', '{' or '}') that no function body has:
# a function's head holds its parameter list's parentheses.
_NOT_A_BODY = re.compile(
    r"(\bnamespace\b[\w:\s]*|\bextern\s*|\b(?:class|struct|union|enum)\b[^()]*|=\s*)$")
UNBOUNDED = float("inf")
_TRY = re.compile(r"\btry\s*$")
_CATCH = re.compile(r"\s*catch\b")


def code_only(text):
    """text with comments, literals and preprocessor lines blanked (newlines
    kept), or None if a preprocessor line holds a brace."""
    out = []
    pos = 0
    for m in _LITERAL.finditer(text):
        if m.lastgroup == "pp" and ("{" in m.group() or "}" in m.group()):
            return None
        out.append(text[pos:m.start()])
        out.append(re.sub(r"[^\n]", " ", m.group()))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def may_exceed(text, threshold):
    """True if a function body in text may span more than threshold lines."""
    return max_body_span(text) > threshold


def max_body_span(text):
    """The most lines (last line - first line) a function body in text may
    span, by clang-tidy's count; UNBOUNDED when unsure."""
    code = code_only(text)
    if code is None:
        return UNBOUNDED
    widest = 0
    stack = []  # (line where the body starts, is it a body?)
    line = 1
    pos = 0
    chain_start = None  # a try block closed just before: its handlers extend it
    for m in re.finditer(r"[{}]", code):
        line += code.count("\n", pos, m.start())
        pos = m.start()
        if m.group() == "{":
            head = code[max(0, m.start() - 300):m.start()]
            head = head[max(head.rfind(";"), head.rfind("{"), head.rfind("}")) + 1:]
            start = line
            if chain_start is not None and re.search(r"\bcatch\b", head):
                start = chain_start
            elif _TRY.search(head):
                start = line - head.count("\n", head.rfind("try"))
            stack.append((start, not _NOT_A_BODY.search(head)))
            chain_start = None
        else:
            if not stack:
                return UNBOUNDED
            start, body = stack.pop()
            if body:
                widest = max(widest, line - start)
            chain_start = start if _CATCH.match(code, m.end()) else None
    return UNBOUNDED if stack else widest

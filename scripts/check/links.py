#!/usr/bin/env python3
"""Checks that every relative link in the repository's Markdown files resolves.

Markdown files are those git tracks and those it would track (untracked, not ignored).
Checked: inline links and images, `[text](target)` and `![alt](target)`, and reference
definitions, `[label]: target`. A target resolves when the file or directory it names
exists, relative to the Markdown file (or to the repository's root when it starts with
`/`). For `file.md#anchor` the anchor must also be one of that file's headings, as GitHub
makes their ids. Skipped: URLs with a scheme (http:, https:, mailto:), links to an anchor
of the same file (`#anchor`), and anything in a fenced code block or in inline code.

    scripts/check/links.py               # prints `path:line: target` per broken link; exit 1 if any
    scripts/check/links.py --self-test   # checks the checker on a made-up repository

Python's standard library only.
"""

import os
import re
import subprocess
import sys
import tempfile
import unicodedata
import urllib.parse

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
# `[text](target "title")` or `![alt](<target>)`; the text may hold one level of
# brackets (an image inside a link) and may wrap onto the next lines.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(<[^>\n]*>|\S+)", re.M)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ID = re.compile(r"<a\s[^>]*\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.I)


def unfenced(text):
    """The text with fenced code blocks blanked (newlines kept, so line numbers stay
    those of the file)."""
    lines = text.split("\n")
    fence = None
    for i, line in enumerate(lines):
        opening = FENCE.match(line)
        if fence is None:
            if opening:
                fence = opening.group(1)
                lines[i] = ""
        else:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                    and not line.strip().strip(fence[0]):
                fence = None
            lines[i] = ""
    return "\n".join(lines)


def masked(text):
    """The text with fenced code blocks and inline code blanked (newlines kept, so
    offsets and line numbers stay those of the file)."""
    return INLINE_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), unfenced(text))


def slug(heading):
    """A heading's id as GitHub makes it: its text without markup, lower-cased, with
    every character but letters, digits, `_`, `-` and spaces dropped, spaces as `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = text.replace("`", "")
    kept = []
    for char in text.lower():
        category = unicodedata.category(char)
        if char in " -" or category[0] in "LMN" or category == "Pc":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


def anchors(path, cache={}):
    """The ids of a Markdown file's headings (`-1`, `-2` after repeats), and of its
    `<a name>` / `id` anchors."""
    if path in cache:
        return cache[path]
    with open(path, encoding="utf-8") as file:
        text = unfenced(file.read())
    found, seen = set(), {}
    lines = text.split("\n")
    for i, line in enumerate(lines):
        heading = None
        atx = ATX_HEADING.match(line)
        if atx:
            heading = atx.group(2)
        elif i > 0 and lines[i - 1].strip() and SETEXT_UNDERLINE.match(line) \
                and not ATX_HEADING.match(lines[i - 1]) and not lines[i - 1].lstrip().startswith(("-", "*", ">", "|")):
            heading = lines[i - 1].strip()
        if heading is not None:
            base = slug(heading)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(anchor.lower() for anchor in HTML_ID.findall(line))
    cache[path] = found
    return found


def targets(text):
    """Each link target of a Markdown text, with its line number."""
    text = masked(text)
    for pattern in (INLINE_LINK, REFERENCE):
        for match in pattern.finditer(text):
            target = match.group(1)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            yield text.count("\n", 0, match.start()) + 1, target


def broken(root, markdown):
    """The broken links of one Markdown file (relative to `root`), and how many links
    were checked."""
    path = os.path.join(root, markdown)
    with open(path, encoding="utf-8") as file:
        text = file.read()
    found, checked = [], 0
    for line, target in targets(text):
        if not target or target.startswith("#") or SCHEME.match(target):
            continue
        checked += 1
        address, _, anchor = target.partition("#")
        address = urllib.parse.unquote(address.split("?", 1)[0])
        if address.startswith("/"):
            resolved = os.path.join(root, address.lstrip("/"))
        else:
            resolved = os.path.join(os.path.dirname(path), address)
        resolved = os.path.normpath(resolved)
        if not os.path.exists(resolved):
            found.append((line, target))
        elif anchor and resolved.lower().endswith(".md") and os.path.isfile(resolved):
            if urllib.parse.unquote(anchor).lower() not in anchors(resolved):
                found.append((line, target))
    return found, checked


def markdown_files(root):
    """The repository's Markdown files: tracked, and untracked but not ignored."""
    listed = set()
    for extra in ([], ["--others", "--exclude-standard"]):
        result = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", *extra, "--", "*.md"],
            check=True, capture_output=True, text=True,
        )
        listed.update(name for name in result.stdout.split("\0") if name)
    return sorted(name for name in listed if os.path.isfile(os.path.join(root, name)))


def check(root, out=sys.stdout):
    """Prints each broken link; returns their number and the number of links checked."""
    failures, checked, files = 0, 0, markdown_files(root)
    for markdown in files:
        found, count = broken(root, markdown)
        checked += count
        for line, target in found:
            print(f"{markdown}:{line}: {target}", file=out)
        failures += len(found)
    return failures, checked, len(files)


def self_test():
    """A made-up repository with one broken link among good ones and ones to skip: the
    checker must name exactly that one."""
    import io

    with tempfile.TemporaryDirectory() as root:
        subprocess.run(["git", "init", "-q", root], check=True)
        os.makedirs(os.path.join(root, "docs"))
        with open(os.path.join(root, "docs", "guide.md"), "w", encoding="utf-8") as file:
            file.write("# Guide\n\n## The `Prefer: wait` header — in brief\n\nText.\n")
        with open(os.path.join(root, "README.md"), "w", encoding="utf-8") as file:
            file.write(
                "# Test\n\n"
                "A [good link](docs/guide.md#the-prefer-wait-header--in-brief), a [folder](docs/),\n"
                "an ![image](<docs/guide.md>), a [wrapped\nlink](docs/guide.md) and a [ref].\n"
                "Skipped: [web](https://example.com/x), [mail](mailto:a@example.com),\n"
                "[here](#test), `[code](nowhere.md)`.\n\n"
                "```md\n[fenced](nowhere-either.md)\n```\n\n"
                "Broken: [missing](docs/missing.md).\n\n"
                "[ref]: docs/guide.md#guide\n"
            )
        out = io.StringIO()
        failures, checked, files = check(root, out)
        printed = out.getvalue().splitlines()
        assert printed == ["README.md:13: docs/missing.md"], printed
        assert (failures, checked, files) == (1, 6, 2), (failures, checked, files)
        # A bad anchor in a Markdown target is broken too.
        with open(os.path.join(root, "README.md"), "a", encoding="utf-8") as file:
            file.write("\n[bad anchor](docs/guide.md#no-such-heading)\n")
        out = io.StringIO()
        failures, _, _ = check(root, out)
        assert failures == 2 and out.getvalue().splitlines()[1] == \
            "README.md:17: docs/guide.md#no-such-heading", out.getvalue()
    print("check_links: self-test passed (the broken links, and only they, were caught)")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    root = subprocess.run(
        ["git", "-C", here, "rev-parse", "--show-toplevel"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    failures, checked, files = check(root)
    if failures:
        print(f"check_links: {failures} of {checked} relative links broken", file=sys.stderr)
        return 1
    print(f"check_links: {checked} relative links in {files} Markdown files resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())

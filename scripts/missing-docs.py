#!/usr/bin/env python3
"""Lists the public declarations of the API targets (TensorCore, Layers, Objectives, Methods) that have no `///` doc
comment, as FILE:LINE: declaration. Exit status 1 when any is missing and --strict is given.

    python3 scripts/missing-docs.py [--strict] [TARGET ...]

A declaration is documented when the line above it (skipping attributes) is a `///` line. Members that restate a
protocol requirement documented on the protocol (Layer's ownParameters, children, isTraining, callAsFunction; the
Method and MethodSpec protocols' members, ImagePairConfig's heads; Optimizer's and LearningRateSchedule's; Critic's scores; Codable's init(from:),
CodingKeys and CodingKey's members) count as documented there.
"""
import glob
import re
import sys

INHERITED = re.compile(r"\b(ownParameters|ownBuffers|children|isTraining|callAsFunction|init\(from decoder|CodingKeys|"
                       r"encode\(to encoder|description|static let key|static let input|static func make|var model\b|"
                       r"func loss\(|func features\(|func beforeOptimizerStep|func afterOptimizerStep|func refresh\(|"
                       r"var refreshEvery|let refreshEvery|let model: any Layer|static func validate\(|var heads: \[HeadConfig\]|func step\(\)|func stateTensors|func loadState|func learningRate\(atStep|"
                       r"var learningRate: Float$|var stepCount|let parameters: \[\(name|func scores\(|"
                       r"let stringValue|let intValue|init\(stringValue|init\?\(intValue)")
DECLARATION = re.compile(r"^\s*(@[\w().,: ]+\s+)*(public|open)\s+(?!import)")


def missing(target):
    found = []
    for path in sorted(glob.glob(f"Sources/{target}/**/*.swift", recursive=True)):
        lines = open(path, encoding="utf-8").read().split("\n")
        for number, line in enumerate(lines):
            if not DECLARATION.match(line) or INHERITED.search(line) or line.strip().startswith("public extension"):
                continue
            above = number - 1
            while above >= 0 and lines[above].strip().startswith("@"):
                above -= 1
            if above < 0 or not lines[above].strip().startswith("///"):
                found.append(f"{path}:{number + 1}: {line.strip()}")
    return found


def main():
    strict = "--strict" in sys.argv
    targets = [a for a in sys.argv[1:] if not a.startswith("--")] or ["TensorCore", "Layers", "Objectives", "Methods"]
    total = 0
    for target in targets:
        rows = missing(target)
        total += len(rows)
        print(f"{target}: {len(rows)} public declarations without a doc comment")
        for row in rows:
            print("  " + row)
    sys.exit(1 if strict and total else 0)


main()

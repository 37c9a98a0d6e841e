#!/usr/bin/env python3
"""embed-text.py INPUT OUTPUT SYMBOL: a C file defining SYMBOL (the bytes of
INPUT, NUL-terminated) and SYMBOL_len (their count), so that a script such as
src/toolstack/image_bootstrap.sh is built into the vireo binary."""
import sys

src, out, sym = sys.argv[1:4]
data = open(src, 'rb').read()
with open(out, 'w') as f:
    f.write('/* Generated from %s by scripts/embed-text.py. */\n#include <stddef.h>\n' % src.split('/')[-1])
    f.write('const char %s[] = {\n' % sym)
    for i in range(0, len(data), 16):
        f.write('    ' + ''.join('%d,' % b for b in data[i:i + 16]) + '\n')
    f.write('    0};\nconst size_t %s_len = %d;\n' % (sym, len(data)))

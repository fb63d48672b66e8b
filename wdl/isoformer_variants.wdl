version 1.0

# Scores every variant of a VCF against the annotation's isoforms on several GPU machines: variants runs once per
# shard of the VCF's records (contiguous runs, balanced by estimated cost), variants_gather writes the files one
# unsharded run writes.

import "isoformer_tasks.wdl" as tasks

workflow isoformer_variants {
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
    String sample_id
    Int n_shards = 4
    String extra_args = ""
    Boolean use_gpu = true
    String docker = "ghcr.io/isoformer/isoformer:0.1.0"
    String zones = "us-central1-a us-central1-b us-central1-c us-central1-f"
  }

  scatter (i in range(n_shards)) {
    call tasks.variants {
      input:
        vcf = vcf,
        vcf_index = vcf_index,
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
        extra_args = extra_args,
        use_gpu = use_gpu,
        docker = docker,
        zones = zones
    }
  }

  call tasks.variants_gather {
    input:
      shard_files = flatten([variants.vcf_out, flatten(variants.vcf_out_index), variants.tsv, variants.svg,
                             variants.manifest]),
      prefix = sample_id,
      docker = docker,
      zones = zones
  }

  output {
    File variants_vcf = variants_gather.vcf_out
    Array[File] variants_vcf_index = variants_gather.vcf_out_index
    File variants_tsv = variants_gather.tsv
    File variants_svg = variants_gather.svg
    File? variants_manifest = variants_gather.manifest
  }

  meta {
    description: "Scatters isoformer variants over shards of a VCF on GPU machines and gathers them with isoformer variants --gather."
    author: "isoformer"
    email: "isoformer@example.org"
    allowNestedInputs: true
  }

  parameter_meta {
    vcf: "Variants: VCF (plain, gzip or bgzip) or BCF, sorted"
    vcf_index: "Tabix or CSI index of the VCF"
    fasta: "Reference genome FASTA, plain or bgzipped"
    fasta_fai: "samtools faidx index of the FASTA"
    fasta_gzi: "bgzip index of a bgzipped FASTA"
    gtf: "Transcript annotation, GTF or GFF3"
    model: "IsoFormer weights (model.safetensors)"
    model_config: "The model's config.json"
    chrom_alias: "UCSC chromAlias file for contig-name mismatches"
    sample_id: "Name of the run; prefix of the gathered outputs"
    n_shards: "Number of variants tasks (machines)"
    extra_args: "More isoformer variants options for every shard"
    use_gpu: "One GPU per variants task; false runs on CPUs"
    docker: "Container image with isoformer"
    zones: "Google zones of your workspace's region (Terra: the workspace's bucket region) that have the GPU type"
  }
}

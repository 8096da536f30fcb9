#!/usr/bin/env bash
# The GPU figures of docs/PERFORMANCE.md on one CUDA device, in one go (about 6 minutes on an H200 before the steps
# added in 0.10.0, which are not timed yet): roofline of every bundle's network, inference against plain MONAI
# (FIB-SEM U-Net, also on ONNX Runtime's CUDA and TensorRT providers, and the seed-size GlaS U-Net),
# training throughput with the share of time the GPU waits for data, the cost of batched augmentation, and a folder
# run with its outputs written in the loop and on the writer thread.
#
#   bash scripts/bench_gpu.sh OUT_DIR LUCCHI_DIR [GLAS_DIR]
#
# LUCCHI_DIR holds training.tif and training_groundtruth.tif (the full Lucchi volume, or a crop of at least 40
# slices: slices 0-31 train, 32-39 validate); GLAS_DIR, if given, holds GlaS training images (train_N.png with
# train_N_anno.png; 30 of them are enough) for the seed-size U-Net's training throughput. Every step's output goes to OUT_DIR/bench_gpu.log, the figure to
# OUT_DIR/roofline_gpu.png. STEPS="roofline_seed_tuned train_fibsem_on_device" runs only the steps named.
set -uo pipefail
out=${1:?OUT_DIR}
data=${2:?LUCCHI_DIR}
glas=${3:-}
mkdir -p "$out"
steps=" ${STEPS:-all} "  # STEPS="name ..." runs only those steps
run() {  # name, command...: tee the output; a failing step is reported and the next one runs
    local name=$1; shift
    [[ $steps == " all " || $steps == *" $name "* ]] || return 0
    echo "=== $name: $*" | tee -a "$out/bench_gpu.log"
    "$@" 2>&1 | grep -v -E "Warning|warn\(" | tee -a "$out/bench_gpu.log" || echo "=== $name FAILED"
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/bench_gpu.log"
python3 -c "import torch, monai; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'cuDNN',
torch.backends.cudnn.version(), 'MONAI', monai.__version__)" | tee -a "$out/bench_gpu.log"

run roofline_eager python3 scripts/roofline.py --device cuda --precision bfloat16 --channels_last --batch 32 \
    --matmul_size 8192 --copy_mib 4096 --repeats 20 --plot "$out/roofline_gpu.png"
run roofline_seed_compile python3 scripts/roofline.py --device cuda --precision bfloat16 --channels_last \
    --backend compile --bundles he_gland_segmentation --tile 512,512 --batch 32 --matmul_size 8192 \
    --copy_mib 4096 --repeats 20
run roofline_seed_tuned python3 scripts/roofline.py --device cuda --precision bfloat16 --channels_last \
    --backend compile --bundles he_gland_segmentation --tile 512,512 --batch 64 --cudnn benchmark \
    --matmul_size 8192 --copy_mib 4096 --repeats 20
run infer_fibsem_deterministic python3 scripts/bench_inference.py --bundle fibsem_mitochondria_segmentation \
    --device cuda --shape 165,768,1024 --sw_batch_size 32 --slice_batch 8 --chunk 33 --cudnn deterministic \
    --variants monai,eager+bf16+cl,compile+bf16+cl
run infer_fibsem python3 scripts/bench_inference.py --bundle fibsem_mitochondria_segmentation --device cuda \
    --shape 165,768,1024 --sw_batch_size 32 --slice_batch 8 --chunk 33 \
    --variants monai,eager,eager+bf16+cl,compile+bf16+cl,torchscript+bf16
run infer_fibsem_onnx python3 scripts/bench_inference.py --bundle fibsem_mitochondria_segmentation --device cuda \
    --shape 165,768,1024 --sw_batch_size 32 --slice_batch 8 --chunk 33 --variants monai,onnx
run infer_fibsem_tensorrt python3 scripts/bench_inference.py --bundle fibsem_mitochondria_segmentation --device cuda \
    --shape 165,768,1024 --sw_batch_size 32 --slice_batch 8 --chunk 33 --variants monai,onnx \
    --onnx_providers TensorrtExecutionProvider,CUDAExecutionProvider
run infer_seed python3 scripts/bench_inference.py --bundle he_gland_segmentation --device cuda --random_weights \
    --shape 32,1024,1024 --roi_size 512,512 --overlap 0.25 --sw_batch_size 16 --slice_batch 4 --chunk 8 \
    --variants monai,eager+bf16+cl,compile+bf16+cl
run train_fibsem python3 scripts/bench_train.py --bundle fibsem_mitochondria_segmentation --dataset_dir "$data" \
    --device cuda --iterations 60 --num_workers "${WORKERS:-12}" --override 'train_slices=[0,32]' \
    --override 'val_slices=[32,40]' --variants monai,bundle
run train_fibsem_on_device python3 scripts/bench_train.py --bundle fibsem_mitochondria_segmentation \
    --dataset_dir "$data" --device cuda --iterations 60 --num_workers "${WORKERS:-12}" \
    --override 'train_slices=[0,32]' --override 'val_slices=[32,40]' --override augment_on_device=true \
    --variants bundle
run augment_fibsem python3 scripts/bench_augment.py --bundle fibsem_mitochondria_segmentation --device cuda
run augment_tem python3 scripts/bench_augment.py --bundle tem_nuclei_segmentation --device cuda
run augment_glas python3 scripts/bench_augment.py --bundle he_gland_segmentation --device cuda \
    --override image_size=512
run augment_dsb python3 scripts/bench_augment.py --bundle dsb2018_nuclei_segmentation --device cuda
run augment_sbem python3 scripts/bench_augment.py --bundle sbem_organelle_segmentation --device cuda \
    --override variant=deepem3d_5fm
run augment_mrcnn python3 scripts/bench_augment.py --bundle he_gland_instance_segmentation --device cuda
run write_fibsem python3 scripts/bench_writing.py --input "$data/training.tif" --device cuda --stacks 6 \
    --slices 165 --rounds 1
if [[ -n $glas ]]; then
    for size in 512 256; do
        run train_seed python3 scripts/bench_train.py --bundle he_gland_segmentation --dataset_dir "$glas" \
            --device cuda --iterations 30 --num_workers "${WORKERS:-12}" --override image_size=$size
    done
    run train_seed_on_device python3 scripts/bench_train.py --bundle he_gland_segmentation --dataset_dir "$glas" \
        --device cuda --iterations 30 --num_workers "${WORKERS:-12}" --override image_size=512 \
        --override augment_on_device=true --variants bundle
fi

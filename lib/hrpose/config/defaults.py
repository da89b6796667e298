"""Every configuration key, with its default and meaning.

The reference (HRNet) keys keep their names, defaults and meaning so that its experiment yamls merge
unchanged. Keys that hrpose adds live in clearly named new entries (``SEED``, ``MODEL.CODEC``,
``TRAIN.AMP``, ``TEST.DECODE``, ``DATASET.KEYPOINTS`` ...). Sizes are ``[width, height]`` as in the
reference.
"""

from yacs.config import CfgNode as CN

_C = CN()

# --- run-level -----------------------------------------------------------------------------------
_C.OUTPUT_DIR = ""  # runs go to OUTPUT_DIR/<dataset>/<model>/<cfg name>/ ('' = ./output)
_C.LOG_DIR = ""  # TensorBoard root; '' = the run's output dir (events next to the checkpoints)
_C.DATA_DIR = ""  # prefixed to DATASET.ROOT, MODEL.PRETRAINED and TEST.MODEL_FILE when they are relative
_C.GPUS = (0,)  # reference DataParallel ids; hrpose uses one device per process (torchrun for more)
_C.WORKERS = 4  # DataLoader worker processes per training process
_C.PRINT_FREQ = 20  # log line (and TensorBoard scalars) every N iterations
_C.AUTO_RESUME = True  # continue from <out>/last.pth when it exists (reference default: False)
_C.PIN_MEMORY = True  # pinned host memory for the loaders (only used with CUDA)
_C.RANK = 0  # reference: only named the results file; hrpose takes the rank from torchrun
_C.SEED = 0  # one seed; each epoch, sample and worker derives its own random stream from it

_C.CUDNN = CN()
_C.CUDNN.BENCHMARK = True  # cudnn autotuner (CUDA only)
_C.CUDNN.DETERMINISTIC = False  # deterministic cudnn kernels
_C.CUDNN.ENABLED = True

# --- model ---------------------------------------------------------------------------------------
_C.MODEL = CN()
_C.MODEL.NAME = "pose_hrnet"  # pose_hrnet | pose_resnet
_C.MODEL.INIT_WEIGHTS = True  # reference init (normal std 0.001) + MODEL.PRETRAINED when training
_C.MODEL.PRETRAINED = ""  # ImageNet backbone checkpoint; only EXTRA.PRETRAINED_LAYERS prefixes load
_C.MODEL.NUM_JOINTS = 17  # K, number of keypoints (heatmap channels)
_C.MODEL.TAG_PER_JOINT = True  # reference key, never used
_C.MODEL.TARGET_TYPE = "gaussian"  # only 'gaussian' exists
_C.MODEL.IMAGE_SIZE = [256, 256]  # network input [w, h]
_C.MODEL.HEATMAP_SIZE = [64, 64]  # network output [w, h]; IMAGE_SIZE / 4 for both architectures
_C.MODEL.SIGMA = 2  # Gaussian sigma of the target, in heatmap pixels
_C.MODEL.CODEC = "msra"  # msra (reference targets and affine) | udp (unbiased data processing)
_C.MODEL.EXTRA = CN(new_allowed=True)  # architecture spec, filled from the yaml (see models/build.py)
_C.MODEL.EXTRA.HEAD = "v1"  # HRNet head: v1 (reference, branch 0) | v2 (HRNetV2, all branches); heads.py

# --- loss ----------------------------------------------------------------------------------------
_C.LOSS = CN()
_C.LOSS.USE_OHKM = False  # online hard keypoint mining: average of the TOPK largest per-joint losses
_C.LOSS.TOPK = 8
_C.LOSS.USE_TARGET_WEIGHT = True  # mask joints with weight 0 (unlabelled or outside the crop)
_C.LOSS.USE_DIFFERENT_JOINTS_WEIGHT = False  # multiply target weights by the keypoint set's joint weights

# --- dataset -------------------------------------------------------------------------------------
_C.DATASET = CN()
_C.DATASET.ROOT = ""  # e.g. data/coco (annotations/, images/<set>/, person_detection_results/)
# mpii: the reference's MPII format (annot/<set>.json); any other name is a COCO-format json dataset:
# coco | crowdpose | ochuman | aic | posetrack18 | halpe | coco_wholebody | ... (reference default kept;
# experiments set it)
_C.DATASET.DATASET = "mpii"
_C.DATASET.TRAIN_SET = "train"  # e.g. train2017
_C.DATASET.TEST_SET = "valid"  # e.g. val2017, test-dev2017
# Annotation files and image folders ("" = the layout of DATASET.DATASET from ROOT and the set name, see
# data/README.md); relative paths are taken from DATASET.ROOT. file_name may hold sub-folders.
_C.DATASET.TRAIN_ANN_FILE = ""
_C.DATASET.TEST_ANN_FILE = ""
_C.DATASET.TRAIN_IMAGES = ""
_C.DATASET.TEST_IMAGES = ""
_C.DATASET.DATA_FORMAT = "jpg"  # reference: 'zip' read images from zip archives (not supported)
_C.DATASET.HYBRID_JOINTS_TYPE = ""  # reference key; only changed the output dir name
_C.DATASET.SELECT_DATA = False  # reference's select_data filter of training boxes
_C.DATASET.FLIP = True  # horizontal flip with probability 0.5 (training)
_C.DATASET.SCALE_FACTOR = 0.25  # scale *= clip(N(1, sf), 1 - sf, 1 + sf)
_C.DATASET.ROT_FACTOR = 30  # rotation = clip(N(0, rf), -2 rf, 2 rf) degrees, with probability 0.6
_C.DATASET.PROB_HALF_BODY = 0.0  # probability of cropping the upper or the lower body
_C.DATASET.NUM_JOINTS_HALF_BODY = 8  # half-body only when more than this many joints are labelled
_C.DATASET.COLOR_RGB = False  # feed RGB (True) or BGR (False) to the network
# '' = the set of DATASET.DATASET; a built-in set (coco | mpii | crowdpose | aic | posetrack18 | halpe26 |
# coco_wholebody: 133 keypoints read from the json's part fields),
# a keypoint-set yaml file (format: hrpose/datasets/keypoints.py), or custom (DATASET.KEYPOINTS.*)
_C.DATASET.KEYPOINT_SET = ""
_C.DATASET.KEYPOINTS = CN()  # the keypoint set when KEYPOINT_SET is 'custom'
_C.DATASET.KEYPOINTS.NAMES = []  # K names, in annotation order
_C.DATASET.KEYPOINTS.FLIP_PAIRS = []  # [[left, right], ...] 0-based indices
_C.DATASET.KEYPOINTS.SIGMAS = []  # K OKS sigmas (COCO convention, e.g. 0.079 for shoulders)
_C.DATASET.KEYPOINTS.JOINT_WEIGHTS = []  # K loss weights ([] = all 1)
_C.DATASET.KEYPOINTS.UPPER_BODY_IDS = []  # indices counted as upper body for half-body augmentation
_C.DATASET.KEYPOINTS.SKELETON = []  # [[a, b], ...] 0-based limbs, for drawing only
_C.DATASET.CACHE_IMAGES = False  # decoded images kept in RAM, <= 2 GiB per process (each JPEG decoded once)
_C.DATASET.SKIP_BAD_IMAGES = False  # skip missing/undecodable images (logged count) instead of failing
# Person records are parsed from the json once and cached as arrays: '' = $XDG_CACHE_HOME/hrpose/records
# (~/.cache/hrpose/records), a folder path, or 'none' (parse at every start, no cache)
_C.DATASET.RECORDS_CACHE = ""

# --- training ------------------------------------------------------------------------------------
_C.TRAIN = CN()
_C.TRAIN.LR_FACTOR = 0.1  # MultiStep decay factor
_C.TRAIN.LR_STEP = [90, 110]  # epochs at which the LR is multiplied by LR_FACTOR
_C.TRAIN.LR = 0.001  # base LR for the global batch the yaml was written for (see README scaling rule)
_C.TRAIN.OPTIMIZER = "adam"  # adam | adamw | sgd
_C.TRAIN.MOMENTUM = 0.9  # sgd
_C.TRAIN.WD = 0.0001  # weight decay for sgd and adamw; adam uses ADAM_WD (reference: none)
_C.TRAIN.ADAM_WD = 0.0  # weight decay for adam: 0 reproduces the reference, which ignored TRAIN.WD
_C.TRAIN.NESTEROV = False  # sgd
_C.TRAIN.GAMMA1 = 0.99  # reference key, never used
_C.TRAIN.GAMMA2 = 0.0  # reference key, never used
_C.TRAIN.BEGIN_EPOCH = 0
_C.TRAIN.END_EPOCH = 140
_C.TRAIN.RESUME = False  # reference key, never used (see AUTO_RESUME)
_C.TRAIN.CHECKPOINT = ""  # reference key, never used (see AUTO_RESUME)
_C.TRAIN.BATCH_SIZE_PER_GPU = 32  # per process; global batch = this x world size
_C.TRAIN.SHUFFLE = True
_C.TRAIN.WARMUP_ITERS = 0  # linear LR warm-up over this many iterations (0 = none, as the reference)
_C.TRAIN.VAL_INTERVAL = 1  # validate every N epochs (and always after the last one)
_C.TRAIN.AMP = "none"  # none | bf16 | fp16 (fp16 uses a GradScaler); CUDA only
# Keep TRAIN.AMP on the CPU too (CPU autocast, GradScaler("cpu")): the CUDA code path without a GPU, for
# tests and benchmarks. Off: bf16/fp16 on most CPUs is much slower than float32 and changes the numbers.
_C.TRAIN.AMP_ON_CPU = False
_C.TRAIN.CHANNELS_LAST = False  # NHWC memory format (CUDA)
_C.TRAIN.COMPILE = ""  # '' = eager; else a torch.compile mode: default | reduce-overhead | max-autotune
_C.TRAIN.SYNC_BN = False  # SyncBatchNorm across processes (BN statistics are per process otherwise)
# Fused Adam/AdamW/SGD kernels (CUDA and CPU): one kernel per step, and they skip a non-finite step on the
# device, so a training step needs no host sync. False: torch's default kernels, one sync per step.
_C.TRAIN.FUSED_OPTIMIZER = True
_C.TRAIN.MAX_NONFINITE_STEPS = 20  # fp16: stop after this many consecutive skipped (inf/NaN) steps
# Render the MSRA targets on the training device from K keypoints per person (msra codec only): the data
# workers skip the K x h x w float32 maps (~200 KB per 256x192 sample). The targets are identical.
_C.TRAIN.TARGETS_ON_DEVICE = False

# --- testing -------------------------------------------------------------------------------------
_C.TEST = CN()
_C.TEST.BATCH_SIZE_PER_GPU = 32
_C.TEST.FLIP_TEST = False  # average with the flipped image's heatmaps
_C.TEST.POST_PROCESS = False  # quarter-pixel offset towards the higher neighbour
_C.TEST.SHIFT_HEATMAP = False  # shift flipped heatmaps right by one pixel (reference heuristic)
_C.TEST.USE_GT_BBOX = False  # GT boxes (True) or the detector json TEST.COCO_BBOX_FILE (False)
_C.TEST.IMAGE_THRE = 0.1  # minimum detector score of a box
_C.TEST.NMS_THRE = 0.6  # reference key, never used
_C.TEST.SOFT_NMS = False  # soft OKS-NMS instead of greedy OKS-NMS
_C.TEST.OKS_THRE = 0.5  # OKS-NMS threshold
_C.TEST.IN_VIS_THRE = 0.0  # keypoints scoring above this count in the rescoring mean
_C.TEST.COCO_BBOX_FILE = ""  # detector json (COCO results format)
_C.TEST.BBOX_THRE = 1.0  # reference key, never used
_C.TEST.MODEL_FILE = ""  # checkpoint for tools/test.py ('' = the run's best.pth)
_C.TEST.DECODE = "standard"  # standard (reference argmax + quarter offset) | dark
_C.TEST.EVAL_BACKEND = "pycocotools"  # pycocotools | faster_coco_eval (if installed; same numbers)
# coco (COCO AP) | crowdpose (AP + AP easy/medium/hard by crowd index) | pckh (MPII PCKh@0.5) |
# wholebody (COCO-WholeBody AP/AR per part and whole-body, the keypoint set's json_parts);
# '' = by DATASET.DATASET: pckh for mpii, crowdpose for crowdpose, wholebody for coco_wholebody, coco
# otherwise
_C.TEST.METRIC = ""
_C.TEST.AMP = "none"  # none | bf16 | fp16 autocast for the forward pass (CUDA)
_C.TEST.AMP_ON_CPU = False  # keep TEST.AMP on the CPU too (see TRAIN.AMP_ON_CPU); off by default
_C.TEST.CHANNELS_LAST = False
_C.TEST.COMPILE = ""  # torch.compile mode for inference ('' = eager)
_C.TEST.FUSE_BN = False  # fold BatchNorm into the preceding convolutions for inference

# --- debug images --------------------------------------------------------------------------------
_C.DEBUG = CN()
_C.DEBUG.DEBUG = False  # write debug images (to TensorBoard) every DEBUG.INTERVAL iterations
_C.DEBUG.SAVE_BATCH_IMAGES_GT = False
_C.DEBUG.SAVE_BATCH_IMAGES_PRED = False
_C.DEBUG.SAVE_HEATMAPS_GT = False
_C.DEBUG.SAVE_HEATMAPS_PRED = False
_C.DEBUG.INTERVAL = 1000  # iterations between debug images (reference: every PRINT_FREQ)

# --- inference without boxes: person detector, tracker, keypoint filter (tools/infer.py, hrpose.apis) --
_C.DETECTOR = CN()
# torchvision Faster R-CNN: fasterrcnn_resnet50_fpn_v2 (COCO box AP 46.7) | fasterrcnn_mobilenet_v3_large_fpn
# (32.8, for CPUs) | fasterrcnn_mobilenet_v3_large_320_fpn (22.8, fastest)
_C.DETECTOR.MODEL = "fasterrcnn_resnet50_fpn_v2"
# '' = torchvision's COCO weights from the torch hub cache (downloaded there on first use); a .pth file, or
# a folder holding torchvision's file; 'random' = untrained weights (tests and smoke runs only)
_C.DETECTOR.WEIGHTS = ""
_C.DETECTOR.DOWNLOAD = True  # False: never download; a missing file is an error naming it
_C.DETECTOR.SCORE_THRE = 0.5  # minimum detector score of a person box
_C.DETECTOR.NMS_THRE = 0.5  # box IoU above which the detector's NMS drops the lower-scored box
_C.DETECTOR.CATEGORY_IDS = [1]  # COCO category ids kept (1 = person); [] keeps every class
_C.DETECTOR.MAX_PERSONS = 50  # highest-scoring boxes kept per image
_C.DETECTOR.MIN_SIZE = 0  # shorter image side the detector resizes to (0 = the model's own: 800 / 320)
_C.DETECTOR.BATCH_SIZE = 4  # frames per detector forward pass
_C.TRACK = CN()  # person ids across video frames (hrpose.apis.tracking)
# iou (box overlap) | oks (keypoint similarity: needs steady keypoints, i.e. a well-trained pose model),
# each against the track's motion-predicted position
_C.TRACK.MATCH = "iou"
_C.TRACK.THRESHOLD = 0.3  # minimum similarity of a detection and a track to match
_C.TRACK.MAX_AGE = 10  # frames a track may go unseen and still take its id back
_C.SMOOTH = CN()  # One-Euro filter of the keypoints of each track (hrpose.apis.smoothing)
_C.SMOOTH.MIN_CUTOFF = 1.0  # Hz; cutoff at rest: lower = less jitter, more lag
_C.SMOOTH.BETA = 0.05  # cutoff gain per pixel/s of speed: higher = less lag on fast motion
_C.SMOOTH.D_CUTOFF = 1.0  # Hz; cutoff of the speed estimate

# Keys the reference declared but never read. They load, and warn when set to another value.
UNUSED_REFERENCE_KEYS = (
    "MODEL.TAG_PER_JOINT",
    "TRAIN.GAMMA1",
    "TRAIN.GAMMA2",
    "TRAIN.RESUME",
    "TRAIN.CHECKPOINT",
    "TEST.NMS_THRE",
    "TEST.BBOX_THRE",
    "DATASET.HYBRID_JOINTS_TYPE",
)
